// End-to-end tests of the conversation worker with the real dispatcher and event hub, a
// fake world_views and a fake Letta client that answers asynchronously (posted).
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "queues/dispatcher.hpp"
#include "queues/event_hub.hpp"
#include "queues/timer_service.hpp"
#include "tests/eventually.hpp"
#include "tests/workers/conversation_test_support.hpp"
#include "workers/conversation_worker.hpp"

using namespace orch;
using namespace orch::workers;
using namespace orch::workers::testing;
using namespace std::chrono_literals;

namespace {

class fake_letta final : public letta_client {
 public:
  explicit fake_letta(boost::asio::io_context& io) : io_(io) {}
  struct call {
    std::string agent;
    std::vector<letta_message> messages;
  };
  // What the agent answers; empty optional = the call fails.
  std::function<std::optional<std::string>(const std::string& agent, const std::vector<letta_message>&)> answer =
      [](const std::string& agent, const std::vector<letta_message>&) -> std::optional<std::string> {
    return "Hello from " + agent.substr(6);
  };

  void send_messages(const std::string& agent_id, std::vector<letta_message> messages, reply_fn cb) override {
    std::optional<std::string> text;
    {
      std::lock_guard lk(mu_);
      calls_.push_back({agent_id, messages});
      text = answer(agent_id, messages);
    }
    boost::asio::post(io_, [text, cb = std::move(cb)] {
      letta_result r;
      r.ok = text.has_value();
      r.attempts = 1;
      if (!r.ok) r.error = "timeout";
      letta_reply rep;
      if (text) rep.text = *text;
      cb(r, rep);
    });
  }
  void get_block(const std::string&, const std::string&, block_fn cb) override {
    boost::asio::post(io_, [cb = std::move(cb)] { cb(letta_result{true, 200, {}, 1}, ""); });
  }
  void update_block(const std::string&, const std::string&, std::string, done_fn cb) override {
    boost::asio::post(io_, [cb = std::move(cb)] { cb(letta_result{true, 200, {}, 1}); });
  }
  void get_agent(const std::string&, done_fn cb) override {
    boost::asio::post(io_, [cb = std::move(cb)] { cb(letta_result{true, 200, {}, 1}); });
  }
  void health(done_fn cb) override {
    boost::asio::post(io_, [cb = std::move(cb)] { cb(letta_result{true, 200, {}, 1}); });
  }
  std::vector<call> calls() const {
    std::lock_guard lk(mu_);
    return calls_;
  }

 private:
  boost::asio::io_context& io_;
  mutable std::mutex mu_;
  std::vector<call> calls_;
};

struct rig {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  policies::manual_clock clk;
  queues::manual_timer_service timers;  // the worker's tick: fires only when the test advances
  metrics::registry metrics;
  fake_views views;
  fake_letta letta{io};
  queues::event_hub events{1024, 16, metrics};
  queues::dispatcher dispatcher{io, queues::queues_config::defaults(), clk, metrics};
  std::unique_ptr<conversation_worker> worker;
  std::vector<std::thread> threads;

  explicit rig(policies::conversation_options opts = {}) {
    views.set(make_view("g", {{"Ann", false, 0, "c1"}, {"Pete", true, 2, "c1"}, {"Goldie", true, 4, "c1"}}));
    worker = std::make_unique<conversation_worker>(opts, views, letta, dispatcher, events, clk, timers, metrics);
    using queues::message_kind;
    dispatcher.set_handler(message_kind::chat_turn, [this](queues::message m, queues::completion c) {
      worker->handle_turn(std::move(m), std::move(c));
    });
    dispatcher.set_handler(message_kind::npc_reply, [this](queues::message m, queues::completion c) {
      worker->handle_reply(std::move(m), std::move(c));
    });
    dispatcher.set_handler(message_kind::system_notice, [this](queues::message m, queues::completion c) {
      worker->handle_notice(std::move(m), std::move(c));
    });
    for (auto k : {message_kind::chat_turn, message_kind::npc_reply, message_kind::system_notice})
      dispatcher.set_drop_handler(
          k, [this](queues::message m, queues::drop_reason r) { worker->on_dropped(std::move(m), r); });
    dispatcher.start();
    for (int i = 0; i < 2; ++i) threads.emplace_back([this] { io.run(); });
  }
  ~rig() {
    worker->stop();
    work.reset();
    io.stop();
    for (auto& t : threads) t.join();
  }
  void submit_turn(const std::string& id, const std::string& text, const std::string& speaker = "Ann") {
    auto t = std::make_shared<chat_turn>();
    t->turn_id = id;
    t->game_id = "g";
    t->speaker_name = speaker;
    t->text = text;
    queues::message m;
    m.kind = queues::message_kind::chat_turn;
    m.key = "c1";
    m.payload = t;
    REQUIRE(dispatcher.submit(std::move(m)).status == queues::submit_status::accepted);
  }
  std::vector<std::string> event_bodies() const {
    std::vector<std::string> out;
    for (const auto& e : events.read("g", 0, 1000).events) out.push_back(e->json);
    return out;
  }
  std::size_t count_events(const std::string& needle) const {
    std::size_t n = 0;
    for (const auto& b : event_bodies())
      if (b.find(needle) != std::string::npos) ++n;
    return n;
  }
  // Simulated time: the clock moves and the worker's due ticks run, on this thread.
  std::size_t advance(std::chrono::milliseconds d) {
    clk.advance(d);
    return timers.fire_due(clk.now());
  }
  // The worker runs on real executor threads: poll (bounded) until pred holds.
  bool wait_for(const std::function<bool()>& pred) { return orch::testing::eventually(pred, 5s); }
};

}  // namespace

TEST_CASE("conversation_worker: a turn gets the addressed NPC's reply, then the next responder's") {
  rig r;
  r.submit_turn("t1", "Goldie, hi!");
  REQUIRE(r.wait_for([&] { return r.count_events(R"("type":"npc_message")") == 2; }));
  auto calls = r.letta.calls();
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].agent == "agent-Goldie");  // addressed first
  CHECK(calls[1].agent == "agent-Pete");
  // Pete (floor of one: he starts after her) hears Goldie's line as context before the turn.
  REQUIRE(calls[1].messages.size() == 2);
  CHECK(calls[1].messages[0].name == "Goldie");
  CHECK(calls[1].messages[0].content == "Hello from Goldie");
  CHECK(
      r.count_events(
          R"("npc":"Goldie","text":"Hello from Goldie","conversationId":"conv-c1","clusterId":"c1","audience":["Ann","Pete"],"inReplyTo":"t1")") ==
      1);
  CHECK(r.count_events(R"("type":"conversation_state")") >= 2);
  CHECK(r.metrics.value("npcorch_conversation_replies_total") == 2);
}

TEST_CASE("conversation_worker: Letta failures and missing speakers end in turn_dropped") {
  rig r;
  r.letta.answer = [](const std::string&, const std::vector<letta_message>&) -> std::optional<std::string> {
    return std::nullopt;
  };
  r.submit_turn("t1", "Pete?");
  r.submit_turn("t2", "hello", "Ghost");
  REQUIRE(r.wait_for([&] { return r.count_events("turn_dropped") == 2; }));
  CHECK(r.count_events(R"("type":"turn_dropped","turnId":"t1","reason":"letta_failed")") == 1);
  CHECK(r.count_events(R"("type":"turn_dropped","turnId":"t2","reason":"speaker_left")") == 1);
  CHECK(r.count_events("npc_message") == 0);
}

TEST_CASE("conversation_worker: an entry notice waits for block_synced, then goes out alone") {
  rig r;
  cluster_diff d;
  d.game_id = "g";
  d.view = make_view("g", {{"Ann", false, 0, "c1"}, {"Pete", true, 2, "c1"}, {"Diamond", false, 3, "c1"}});
  d.changes.push_back({"c1", {"Ann", "Diamond", "Pete"}, {"Diamond"}, {}});
  r.views.set(d.view);
  r.worker->on_cluster_diff(d);
  r.advance(2s);
  // (That nothing goes out before the block lists Diamond is decided, and tested on the
  // manual clock, in conversation_state_test.)
  r.worker->on_block_synced({"g", "Pete", {"Ann", "Diamond"}});
  r.advance(1s);
  REQUIRE(r.wait_for([&] { return r.count_events("npc_message") == 1; }));
  auto calls = r.letta.calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].agent == "agent-Pete");
  REQUIRE(calls[0].messages.size() == 1);
  CHECK(calls[0].messages[0].role == "system");
  CHECK(calls[0].messages[0].content.starts_with("[SYSTEM] Diamond has entered your range."));
  CHECK(r.count_events(R"("inReplyTo":null)") == 2);  // npc_typing, then npc_message
  CHECK(r.count_events(R"("type":"npc_typing","npc":"Pete")") == 1);
  CHECK(r.metrics.value("npcorch_conversation_notices_total") == 1);
}

TEST_CASE("conversation_worker: the tick runs on the injected timers, once per period, and ends at stop") {
  rig r;
  // One wake-up is pending from construction; nothing is due before the period has passed.
  CHECK(r.timers.pending() == 1);
  CHECK(r.timers.fire_due(r.clk.now()) == 0);
  CHECK(r.advance(conversation_worker::tick_period - 1ms) == 0);
  CHECK(r.advance(1ms) == 1);
  CHECK(r.timers.pending() == 1);  // re-armed for the next period
  // A jump of three periods runs the one pending tick (it re-arms from the new now).
  CHECK(r.advance(3 * conversation_worker::tick_period) == 1);
  CHECK(r.timers.pending() == 1);
  r.worker->stop();
  CHECK(r.advance(conversation_worker::tick_period) == 1);  // the pending wake-up finds it stopped
  CHECK(r.timers.pending() == 0);                           // and does not re-arm
}
