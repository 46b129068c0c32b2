// The shared (agent, game) → conversation map (DESIGN 10) in the typed Letta API: two clients
// ("two daemons") over one simulated Letta and one in-memory map with Redis' SET NX semantics.
// Racing first calls for a pair end with both on one conversation (the loser adopts the
// winner's, counted); a client that never saw a pair takes it from the map without asking
// Letta; a map that cannot answer leaves Letta (directory, summary_search) in charge.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include <boost/asio/post.hpp>

#include "tests/workers/letta_test_options.hpp"
#include "tests/workers/run_until.hpp"
#include "workers/letta_discipline.hpp"
#include "workers/letta_simulated.hpp"
#include "workers/shared_conversations.hpp"

using namespace orch;
using namespace orch::workers;
using namespace std::chrono_literals;

namespace {

using orch::testing::run_until;
using orch::testing::say;

// Answers later on the io_context, as the Redis client does.
struct memory_shared final : shared_conversations {
  boost::asio::io_context& io;
  std::map<std::string, std::string> values;
  bool down = false;
  int gets = 0;
  explicit memory_shared(boost::asio::io_context& i) : io(i) {}
  void get(const std::string& key, value_fn cb) override {
    ++gets;
    boost::asio::post(io, [this, key, cb = std::move(cb)] {
      auto it = values.find(key);
      cb(down || it == values.end() ? std::nullopt : std::optional(it->second));
    });
  }
  void put_if_absent(const std::string& key, std::string value, value_fn cb) override {
    boost::asio::post(io, [this, key, value = std::move(value), cb = std::move(cb)]() mutable {
      if (down) return cb(std::nullopt);
      auto [it, inserted] = values.emplace(key, std::move(value));
      cb(it->second);
    });
  }
};

discipline_options shared(std::shared_ptr<shared_conversations> dir) {
  auto o = orch::testing::quick_discipline(7, true);
  o.shared_map = std::move(dir);
  return o;
}

const std::string agent = "agent-00000000-0000-4000-8000-000000000002";

}  // namespace

TEST_CASE("shared conversations: two daemons racing on a pair share one conversation; a moved game finds it") {
  boost::asio::io_context io;
  policies::steady_clock clock;
  metrics::registry m1, m2, m3;
  auto sim = std::make_shared<letta_simulated>(io, 2ms, 1ms);
  auto dir = std::make_shared<memory_shared>(io);
  auto a = std::make_shared<letta_discipline>(io, sim, shared(dir), clock, m1);
  auto b = std::make_shared<letta_discipline>(io, sim, shared(dir), clock, m2);
  int done = 0;
  for (auto& c : {a, b})
    c->send_in_game(letta_call_class::reply, agent, "g1", say("hello"), [&](letta_result r, letta_reply) {
      CHECK(r.ok);
      ++done;
    });
  REQUIRE(run_until(io, [&] { return done == 2; }));
  // Both created one in Letta before either wrote the map: the loser adopted the winner's.
  REQUIRE(a->conversation_of(agent, "g1"));
  CHECK(a->conversation_of(agent, "g1") == b->conversation_of(agent, "g1"));
  auto count = [](const metrics::registry& m, const char* how) {  // absent = -1
    return std::max(0.0, m.value("npcorch_letta_conversations_total", {{"how", how}}));
  };
  CHECK(count(m1, "adopted") + count(m2, "adopted") == 1);
  CHECK(count(m1, "created") + count(m2, "created") == 2);
  CHECK(dir->values.size() == 1);
  const auto conversations = sim->conversations();  // the loser's stays in Letta, unused

  // A third daemon that never saw g1 (the game moved to it) takes it from the map.
  auto c = std::make_shared<letta_discipline>(io, sim, shared(dir), clock, m3);
  done = 0;
  c->send_in_game(letta_call_class::reply, agent, "g1", say("moved"), [&](letta_result r, letta_reply) {
    CHECK(r.ok);
    ++done;
  });
  REQUIRE(run_until(io, [&] { return done == 1; }));
  CHECK(c->conversation_of(agent, "g1") == a->conversation_of(agent, "g1"));
  CHECK(m3.value("npcorch_letta_conversations_total", {{"how", "shared"}}) == 1);
  CHECK(m3.value("npcorch_letta_requests_total", {{"kind", "conversation"}, {"status", "200"}}) <= 0);
  CHECK(sim->conversations() == conversations);

  // The map down: a new pair is resolved in Letta alone (created), nothing stored.
  dir->down = true;
  done = 0;
  c->send_in_game(letta_call_class::reply, agent, "g2", say("alone"), [&](letta_result r, letta_reply) {
    CHECK(r.ok);
    ++done;
  });
  REQUIRE(run_until(io, [&] { return done == 1; }));
  CHECK(m3.value("npcorch_letta_conversations_total", {{"how", "created"}}) == 1);
  CHECK(dir->values.size() == 1);
}
