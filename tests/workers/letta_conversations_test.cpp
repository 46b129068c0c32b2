// Per-game Letta conversations in the typed Letta API (DESIGN 5.4): one conversation per
// (agent, game), resolved inside its lane, found again by a new client, isolated blocks by id;
// and the otid check before a timed-out message is resent. Over the simulated backend (real
// asio timers, millisecond latencies) and a scripted transport; assertions on counts and
// contents, never on elapsed time.
#include <doctest/doctest.h>

#include <deque>
#include <mutex>

#include <boost/asio/post.hpp>

#include "tests/workers/letta_test_options.hpp"
#include "tests/workers/run_until.hpp"
#include "workers/letta_codec.hpp"
#include "workers/letta_conversation_codec.hpp"
#include "workers/letta_discipline.hpp"
#include "workers/letta_simulated.hpp"

using namespace orch;
using namespace orch::workers;
using namespace std::chrono_literals;

namespace {

using orch::testing::run_until;
using orch::testing::say;

discipline_options per_game() { return orch::testing::quick_discipline(99, true); }

const std::string agent = "agent-00000000-0000-4000-8000-000000000001";

}  // namespace

TEST_CASE("conversations: one per (agent, game), racing first calls make one, a new client finds them") {
  boost::asio::io_context io;
  policies::steady_clock clock;
  metrics::registry metrics;
  auto sim = std::make_shared<letta_simulated>(io, 5ms, 1ms);
  auto client = std::make_shared<letta_discipline>(io, sim, per_game(), clock, metrics);
  CHECK(client->lane_key(agent, "g1") != client->lane_key(agent, "g2"));
  // Appended to a buffer, the same key (what the snapshot worker's sync keys are made of).
  std::string key = "sync:";
  client->append_lane_key(key, agent, "g1");
  CHECK(key == "sync:" + client->lane_key(agent, "g1"));
  CHECK(key == "sync:" + agent + "|g1");
  int done = 0;
  for (int round = 0; round < 3; ++round)
    for (std::string g : {"g1", "g2", "g3"})
      client->send_in_game(letta_call_class::reply, agent, g, say(g + " hi " + std::to_string(round)),
                           [&](letta_result r, letta_reply rep) {
                             CHECK(r.ok);
                             CHECK(rep.text.find("hears you") != std::string::npos);
                             ++done;
                           });
  REQUIRE(run_until(io, [&] { return done == 9; }));
  CHECK(sim->conversations() == 3);
  CHECK(sim->max_concurrent_per_agent() == 1);  // per conversation
  CHECK(metrics.value("npcorch_letta_conversations_total", {{"how", "created"}}) == 3);
  CHECK(metrics.value("npcorch_letta_requests_total", {{"kind", "conversation"}, {"status", "200"}}) > 0);
  REQUIRE(client->conversation_of(agent, "g1"));

  // Isolated blocks: each game's group_members is its own.
  int written = 0;
  for (std::string g : {"g1", "g2", "g3"})
    client->update_game_block(agent, g, "group_members", "people of " + g, [&](letta_result r) {
      CHECK(r.ok);
      ++written;
    });
  REQUIRE(run_until(io, [&] { return written == 3; }));
  for (std::string g : {"g1", "g2", "g3"}) CHECK(sim->game_block(agent, g, "group_members") == "people of " + g);
  std::string read;
  bool got = false;
  client->get_game_block(agent, "g2", "group_members", [&](letta_result r, std::string v) {
    CHECK(r.ok);
    read = v;
    got = true;
  });
  REQUIRE(run_until(io, [&] { return got; }));
  CHECK(read == "people of g2");

  // A restarted daemon (a new client, same Letta) finds the conversations by their summary.
  metrics::registry metrics2;
  auto again = std::make_shared<letta_discipline>(io, sim, per_game(), clock, metrics2);
  done = 0;
  for (std::string g : {"g1", "g2", "g3"})
    again->send_in_game(letta_call_class::npc, agent, g, say("back"), [&](letta_result r, letta_reply) {
      CHECK(r.ok);
      ++done;
    });
  REQUIRE(run_until(io, [&] { return done == 3; }));
  CHECK(sim->conversations() == 3);
  CHECK(metrics2.value("npcorch_letta_conversations_total", {{"how", "found"}}) == 3);
  CHECK(again->conversation_of(agent, "g1") == client->conversation_of(agent, "g1"));
  got = false;
  again->get_game_block(agent, "g3", "group_members", [&](letta_result r, std::string v) {
    CHECK(r.ok);
    read = v;
    got = true;
  });
  REQUIRE(run_until(io, [&] { return got; }));
  CHECK(read == "people of g3");

  // An evicted game's cached conversation is dropped; when the game returns it is found again.
  again->forget_game("g1");
  CHECK_FALSE(again->conversation_of(agent, "g1"));
  CHECK(again->conversation_of(agent, "g2"));
  done = 0;
  again->send_in_game(letta_call_class::npc, agent, "g1", say("back again"), [&](letta_result r, letta_reply) {
    CHECK(r.ok);
    ++done;
  });
  REQUIRE(run_until(io, [&] { return done == 1; }));
  CHECK(sim->conversations() == 3);
  CHECK(metrics2.value("npcorch_letta_conversations_total", {{"how", "found"}}) == 4);
}

TEST_CASE("conversations: one directory list per agent, one create per pair, pages after a restart") {
  boost::asio::io_context io;
  policies::steady_clock clock;
  metrics::registry metrics;
  auto sim = std::make_shared<letta_simulated>(io, 1ms, 1ms);
  auto client = std::make_shared<letta_discipline>(io, sim, per_game(), clock, metrics);
  // 150 games: "g1" is a part of "g10".."g19" and "g100".."g149" (summary_search matches parts).
  constexpr int games = 150;
  int done = 0;
  for (int g = 0; g < games; ++g)
    client->send_in_game(letta_call_class::reply, agent, "g" + std::to_string(g), say("hi"),
                         [&](letta_result r, letta_reply) {
                           CHECK(r.ok);
                           ++done;
                         });
  REQUIRE(run_until(io, [&] { return done == games; }));
  CHECK(sim->conversations() == games);
  CHECK(metrics.value("npcorch_letta_directory_loads_total", {{"result", "ok"}}) == 1);
  CHECK(metrics.value("npcorch_letta_conversations_total", {{"how", "created"}}) == games);
  // The setup of a pair is its create: one list for the agent, no search and no label read per pair.
  CHECK(metrics.value("npcorch_letta_requests_total", {{"kind", "conversation"}, {"status", "200"}}) == games + 1);
  CHECK(metrics.value("npcorch_letta_extra_requests_total") == games + 1);
  // Blocks mapped by creation order reach the right block (each answer's label is checked).
  int written = 0;
  client->update_game_block(agent, "g7", "status", "health: 7", [&](letta_result r) {
    CHECK(r.ok);
    ++written;
  });
  client->update_game_block(agent, "g7", "group_members", "people of g7", [&](letta_result r) {
    CHECK(r.ok);
    ++written;
  });
  REQUIRE(run_until(io, [&] { return written == 2; }));
  CHECK(sim->game_block(agent, "g7", "status") == "health: 7");
  CHECK(sim->game_block(agent, "g7", "group_members") == "people of g7");
  CHECK(metrics.value("npcorch_letta_block_label_mismatches_total") <= 0);  // -1: never counted

  // A restarted daemon lists the agent's conversations in pages of 100 and finds each pair's.
  metrics::registry metrics2;
  auto again = std::make_shared<letta_discipline>(io, sim, per_game(), clock, metrics2);
  done = 0;
  for (int g = 0; g < games; ++g)
    again->send_in_game(letta_call_class::npc, agent, "g" + std::to_string(g), say("back"),
                        [&](letta_result r, letta_reply) {
                          CHECK(r.ok);
                          ++done;
                        });
  REQUIRE(run_until(io, [&] { return done == games; }));
  CHECK(sim->conversations() == games);
  CHECK(metrics2.value("npcorch_letta_conversations_total", {{"how", "found"}}) == games);
  CHECK(metrics2.value("npcorch_letta_conversations_total", {{"how", "created"}}) <= 0);  // -1: none
  CHECK(again->conversation_of(agent, "g1") == client->conversation_of(agent, "g1"));
  CHECK(again->conversation_of(agent, "g149") == client->conversation_of(agent, "g149"));
  // Two pages, then the labels of each found pair's two blocks.
  CHECK(metrics2.value("npcorch_letta_requests_total", {{"kind", "conversation"}, {"status", "200"}}) == 2 + 2 * games);
}

TEST_CASE("conversations: agent mode keeps one lane per agent and the agent's own blocks") {
  boost::asio::io_context io;
  policies::steady_clock clock;
  metrics::registry metrics;
  auto sim = std::make_shared<letta_simulated>(io, 2ms, 1ms);
  auto o = per_game();
  o.per_game = false;
  auto client = std::make_shared<letta_discipline>(io, sim, o, clock, metrics);
  CHECK(client->lane_key(agent, "g1") == agent);
  std::string key = "sync:";
  client->append_lane_key(key, agent, "g1");
  CHECK(key == "sync:" + agent);
  int done = 0;
  client->send_in_game(letta_call_class::reply, agent, "g1", say("hi"), [&](letta_result r, letta_reply) {
    CHECK(r.ok);
    ++done;
  });
  client->update_game_block(agent, "g1", "status", "health: 1", [&](letta_result r) {
    CHECK(r.ok);
    ++done;
  });
  REQUIRE(run_until(io, [&] { return done == 2; }));
  CHECK(sim->conversations() == 0);
  CHECK(sim->block(agent, "status") == "health: 1");
}

namespace {

// A transport that answers from a script: messages POSTs time out (but "land"), the thread
// read answers what landed.
class landing_transport final : public letta_transport {
 public:
  explicit landing_transport(boost::asio::io_context& io) : io_(io) {}
  void execute(transport_request req, response_fn cb) override {
    transport_response r;
    {
      std::lock_guard lk(mu_);
      seen.push_back(req);
      if (req.endpoint == letta_endpoint::messages) {
        ++posts;
        auto ms = parse_messages_body(req.body);
        if (ms) landed_otid = ms->back().otid;
        r.status = 0;
        r.error = "timeout";
      } else if (req.endpoint == letta_endpoint::messages_list) {
        r.status = 200;
        r.body =
            "[{\"id\":\"message-2\",\"message_type\":\"assistant_message\",\"content\":\"landed answer\"},"
            "{\"id\":\"message-1\",\"message_type\":\"user_message\",\"content\":\"hi\",\"otid\":\"" +
            landed_otid + "\"}]";
      } else {
        r.status = 404;
      }
    }
    boost::asio::post(io_, [cb = std::move(cb), r = std::move(r)]() mutable { cb(std::move(r)); });
  }
  std::mutex mu_;
  std::vector<transport_request> seen;
  int posts = 0;
  std::string landed_otid;

 private:
  boost::asio::io_context& io_;
};

}  // namespace

TEST_CASE("conversations: a timed-out message that landed is read back, not run twice") {
  boost::asio::io_context io;
  policies::steady_clock clock;
  metrics::registry metrics;
  auto t = std::make_shared<landing_transport>(io);
  auto o = per_game();
  o.per_game = false;  // agent mode: the agent's newest messages
  auto client = std::make_shared<letta_discipline>(io, t, o, clock, metrics);
  bool got = false;
  letta_result res;
  letta_reply reply;
  client->send_messages_as(letta_call_class::reply, agent, say("hi"), [&](letta_result r, letta_reply rep) {
    res = r;
    reply = rep;
    got = true;
  });
  REQUIRE(run_until(io, [&] { return got; }));
  CHECK(res.ok);
  CHECK(reply.text == "landed answer");
  CHECK(t->posts == 1);
  REQUIRE(t->seen.size() == 2);
  CHECK(t->seen[1].endpoint == letta_endpoint::messages_list);
  CHECK(t->seen[1].target.find("order=desc") != std::string::npos);
  CHECK(metrics.value("npcorch_letta_resends_avoided_total") == 1);
}

TEST_CASE("conversation codec: reply_after_otid reads the answer that followed a user message") {
  const std::string oldest_first =
      R"([{"message_type":"user_message","otid":"o-1","content":"a"},)"
      R"({"message_type":"assistant_message","content":"first"},)"
      R"({"message_type":"user_message","otid":"o-2","content":"b"},)"
      R"({"message_type":"reasoning_message","reasoning":"hmm"},)"
      R"({"message_type":"assistant_message","content":[{"type":"text","text":"second"}]}])";
  auto r1 = reply_after_otid(oldest_first, "o-1", false);
  REQUIRE(r1);
  CHECK(r1->text == "first");
  auto r2 = reply_after_otid(oldest_first, "o-2", false);
  REQUIRE(r2);
  CHECK(r2->text == "second");
  CHECK_FALSE(reply_after_otid(oldest_first, "o-3", false));
  const std::string unanswered = R"([{"message_type":"user_message","otid":"o-9","content":"a"}])";
  CHECK_FALSE(reply_after_otid(unanswered, "o-9", true));
  CHECK(query_param("/v1/conversations/?agent_id=a-1&summary_search=npc-orchestrator%20game%20g%2F1",
                    "summary_search") == "npc-orchestrator game g/1");
  CHECK(build_conversation_messages_body(say("x")).find("\"streaming\":false}") != std::string::npos);
}
