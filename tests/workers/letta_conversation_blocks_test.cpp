// A new (agent, game) conversation's isolated blocks in the typed Letta API (DESIGN 5.4, cheap
// syncs): Letta makes them as copies of the agent's own blocks, so a read of one is answered
// from the agent's block (read once per agent and label) until a message starts in the
// conversation or the daemon writes the block. Over the simulated backend behind a recording
// transport; assertions on the requests made, never on elapsed time.
#include <doctest/doctest.h>

#include <mutex>

#include "tests/workers/letta_test_options.hpp"
#include "tests/workers/run_until.hpp"
#include "workers/letta_discipline.hpp"
#include "workers/letta_simulated.hpp"

using namespace orch;
using namespace orch::workers;
using namespace std::chrono_literals;

namespace {

using orch::testing::run_until;

// Forwards to the simulated backend and records each request's endpoint.
class recording_transport final : public letta_transport {
 public:
  explicit recording_transport(std::shared_ptr<letta_simulated> sim) : sim_(std::move(sim)) {}
  void execute(transport_request req, response_fn cb) override {
    {
      std::lock_guard lk(mu_);
      seen_.push_back(req.endpoint);
    }
    sim_->execute(std::move(req), std::move(cb));
  }
  // Requests to `e` so far; forgets them.
  int take(letta_endpoint e) {
    std::lock_guard lk(mu_);
    const auto n = std::erase(seen_, e);
    return static_cast<int>(n);
  }

 private:
  std::shared_ptr<letta_simulated> sim_;
  std::mutex mu_;
  std::vector<letta_endpoint> seen_;
};

discipline_options per_game() {
  auto o = orch::testing::quick_discipline(7, true);
  o.backoff.max_attempts = 2;
  return o;
}

const std::string agent = "agent-00000000-0000-4000-8000-000000000002";

struct rig {
  boost::asio::io_context io;
  policies::steady_clock clock;
  metrics::registry metrics;
  std::shared_ptr<letta_simulated> sim = std::make_shared<letta_simulated>(io, 2ms, 1ms);
  std::shared_ptr<recording_transport> rec = std::make_shared<recording_transport>(sim);
  std::shared_ptr<letta_discipline> client = std::make_shared<letta_discipline>(io, rec, per_game(), clock, metrics);

  std::string read(letta_discipline& c, const std::string& game, const std::string& label) {
    bool got = false;
    std::string value;
    c.get_game_block(agent, game, label, [&](letta_result r, std::string v) {
      CHECK(r.ok);
      value = std::move(v);
      got = true;
    });
    REQUIRE(run_until(io, [&] { return got; }));
    return value;
  }
  void write(const std::string& game, const std::string& label, const std::string& value) {
    bool done = false;
    client->update_game_block(agent, game, label, value, [&](letta_result r) {
      CHECK(r.ok);
      done = true;
    });
    REQUIRE(run_until(io, [&] { return done; }));
  }
  double known() { return metrics.value("npcorch_letta_block_reads_known_total"); }
};

}  // namespace

TEST_CASE("conversation blocks: a new pair's reads come from the agent's block until a step or a write") {
  rig r;
  r.sim->npc_edit(agent, "group_members", "Pete's own members");  // the agent's block; it has no status block

  // The first read of game g1 creates the pair (on the read's own rate token), reads the
  // agent's block once and answers from it: no request to the isolated block.
  CHECK(r.read(*r.client, "g1", "group_members") == "Pete's own members");
  CHECK(r.rec->take(letta_endpoint::conversation_create) == 1);
  CHECK(r.rec->take(letta_endpoint::conversation_list) == 1);
  CHECK(r.rec->take(letta_endpoint::block_get) == 1);                 // the agent's group_members, by label
  CHECK(r.metrics.value("npcorch_letta_extra_requests_total") == 2);  // the list and the agent's block
  CHECK(r.known() == 1);
  CHECK(r.read(*r.client, "g1", "status").empty());    // the agent has none: its copy starts empty
  CHECK(r.rec->take(letta_endpoint::block_get) == 1);  // the agent's status (404), once
  CHECK(r.known() == 2);

  // A second game: the create and nothing else; both reads from the copies known.
  CHECK(r.read(*r.client, "g2", "group_members") == "Pete's own members");
  CHECK(r.read(*r.client, "g2", "status").empty());
  CHECK(r.rec->take(letta_endpoint::conversation_create) == 1);
  CHECK(r.rec->take(letta_endpoint::block_get) == 0);
  CHECK(r.known() == 4);
  CHECK(r.sim->game_block(agent, "g2", "group_members") == "Pete's own members");  // what Letta copied

  // The daemon writes g1's group_members: that block is read from Letta again (its status is
  // still the copy).
  r.write("g1", "group_members", "written by the daemon");
  CHECK(r.read(*r.client, "g1", "group_members") == "written by the daemon");
  CHECK(r.rec->take(letta_endpoint::block_get) == 1);
  CHECK(r.read(*r.client, "g1", "status").empty());
  CHECK(r.rec->take(letta_endpoint::block_get) == 0);
  CHECK(r.known() == 5);

  // A message in g2 (a step may change any block): both of g2's blocks are read from Letta.
  bool answered = false;
  r.client->send_in_game(letta_call_class::reply, agent, "g2", {{"user", "hi", "Alice", ""}},
                         [&](letta_result res, letta_reply) {
                           CHECK(res.ok);
                           answered = true;
                         });
  REQUIRE(run_until(r.io, [&] { return answered; }));
  r.read(*r.client, "g2", "group_members");
  r.read(*r.client, "g2", "status");
  CHECK(r.rec->take(letta_endpoint::block_get) == 2);
  CHECK(r.known() == 5);

  // A restarted daemon finds g1 (not created by it): its blocks are read from Letta.
  metrics::registry metrics2;
  auto again = std::make_shared<letta_discipline>(r.io, r.rec, per_game(), r.clock, metrics2);
  CHECK(r.read(*again, "g1", "status").empty());
  CHECK(r.rec->take(letta_endpoint::block_get) == 3);  // the two block labels of the found pair, then the read
  CHECK(metrics2.value("npcorch_letta_block_reads_known_total") <= 0);  // -1: never counted
}

TEST_CASE("conversation blocks: agent mode reads the agent's blocks every time") {
  rig r;
  auto o = per_game();
  o.per_game = false;
  auto client = std::make_shared<letta_discipline>(r.io, r.rec, o, r.clock, r.metrics);
  r.sim->npc_edit(agent, "status", "health: 3");
  CHECK(r.read(*client, "g1", "status") == "health: 3");
  CHECK(r.read(*client, "g1", "status") == "health: 3");
  CHECK(r.rec->take(letta_endpoint::block_get) == 2);
  CHECK(r.known() <= 0);
}
