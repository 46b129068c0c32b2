// The typed Letta API over the simulated backend (real asio timers with millisecond latencies;
// assertions on counts, order and metrics, never on elapsed time) and over a held transport on
// a manual clock. Timing rules (rate, breaker) are tested on manual timers in call_scheduler_test.
#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <set>

#include "tests/workers/letta_test_options.hpp"
#include "tests/workers/run_until.hpp"
#include "workers/letta_discipline.hpp"
#include "workers/letta_simulated.hpp"
#include "workers/timer_service.hpp"

using namespace orch;
using namespace orch::workers;
using namespace std::chrono_literals;

namespace {

using orch::testing::run_until;
using orch::testing::say;

struct rig {
  boost::asio::io_context io;
  policies::steady_clock clock;
  metrics::registry metrics;
  std::shared_ptr<letta_simulated> sim;
  std::shared_ptr<letta_discipline> client;

  explicit rig(discipline_options o, std::chrono::milliseconds latency = 2ms) {
    o.jitter_seed = 1234;
    sim = std::make_shared<letta_simulated>(io, latency);
    client = std::make_shared<letta_discipline>(io, sim, o, clock, metrics);
  }
  double metric(const std::string& n, const metrics::labels& l = {}) { return metrics.value(n, l); }
};

discipline_options fast() {
  auto o = orch::testing::quick_discipline();
  o.max_in_flight = 4;
  return o;
}

}  // namespace

TEST_CASE("discipline: one in flight per agent, FIFO per agent, global cap") {
  auto o = fast();
  o.max_in_flight = 2;
  rig r(o);
  std::map<std::string, std::vector<std::string>> replies;
  int done = 0;
  for (int i = 0; i < 10; ++i)
    for (std::string a : {"agent-a", "agent-b", "agent-c"})
      r.client->send_messages(a, say("msg " + std::to_string(i)), [&, a](letta_result res, letta_reply rep) {
        CHECK(res.ok);
        replies[a].push_back(rep.text);
        ++done;
      });
  REQUIRE(run_until(r.io, [&] { return done == 30; }));
  for (std::string a : {"agent-a", "agent-b", "agent-c"}) {
    REQUIRE(replies[a].size() == 10);
    for (int i = 0; i < 10; ++i) CHECK(replies[a][i] == a + " hears you: msg " + std::to_string(i));
  }
  CHECK(r.client->max_agent_concurrency() == 1);
  CHECK(r.sim->max_concurrent_per_agent() == 1);
  CHECK(r.client->max_in_flight_seen() == 2);
  CHECK(r.client->in_flight() == 0);
  CHECK(r.metric("npcorch_letta_calls_total", {{"endpoint", "messages"}, {"status", "200"}}) == 30);
  CHECK(r.metric("npcorch_letta_in_flight") == 0);
  CHECK(r.metric("npcorch_letta_tokens_total", {{"type", "prompt"}}) > 0);  // the simulated usage
  CHECK(r.metric("npcorch_letta_tokens_total", {{"type", "completion"}}) > 0);
  // Callbacks ran exactly once: nothing more arrives later.
  r.io.restart();
  r.io.run_for(20ms);
  CHECK(done == 30);
}

TEST_CASE("discipline: retryable failures are retried with the same otid") {
  rig r(fast());
  r.sim->fail_next(2, 503);
  letta_result got;
  letta_reply rep;
  bool done = false;
  r.client->send_messages("agent-a", say("hello"), [&](letta_result res, letta_reply x) {
    got = res;
    rep = std::move(x);
    done = true;
  });
  REQUIRE(run_until(r.io, [&] { return done; }));
  CHECK(got.ok);
  CHECK(got.attempts == 3);
  CHECK(got.http_status == 200);
  CHECK(rep.text == "agent-a hears you: hello");
  CHECK(r.metric("npcorch_letta_retries_total") == 2);
  CHECK(r.metric("npcorch_letta_calls_total", {{"endpoint", "messages"}, {"status", "503"}}) == 2);
  CHECK(r.sim->requests() == 3);
}

TEST_CASE("discipline: non-retryable 4xx fails at once - exhausted retries fail with the reason") {
  rig r(fast());
  r.sim->fail_next(1, 400);
  letta_result a, b;
  int done = 0;
  r.client->update_block("agent-a", "status", "x", [&](letta_result res) {
    a = res;
    ++done;
  });
  REQUIRE(run_until(r.io, [&] { return done == 1; }));
  CHECK_FALSE(a.ok);
  CHECK(a.error == "http_400");
  CHECK(a.attempts == 1);
  r.sim->fail_next(100, 0);
  r.client->health([&](letta_result res) {
    b = res;
    ++done;
  });
  REQUIRE(run_until(r.io, [&] { return done == 2; }));
  CHECK_FALSE(b.ok);
  CHECK(b.error == "timeout");
  CHECK(b.attempts == 4);
  CHECK(r.metric("npcorch_letta_failures_total", {{"reason", "timeout"}}) == 1);
  CHECK(r.metric("npcorch_letta_calls_total", {{"endpoint", "health"}, {"status", "timeout"}}) == 4);
}

TEST_CASE("discipline: a call waits behind an open breaker no longer than breaker_wait") {
  auto o = fast();
  o.breaker_failure_threshold = 1;
  o.breaker_open = 10s;
  o.breaker_wait = 20ms;
  o.backoff.max_attempts = 1;
  rig r(o);
  r.sim->fail_next(1, 500);
  int done = 0;
  letta_result last;
  r.client->health([&](letta_result) { ++done; });
  REQUIRE(run_until(r.io, [&] { return done == 1; }));
  r.client->get_block("agent-a", "status", [&](letta_result x, std::string) {
    last = x;
    ++done;
  });
  REQUIRE(run_until(r.io, [&] { return done == 2; }));
  CHECK_FALSE(last.ok);
  CHECK(last.error == "breaker_open");
  CHECK(last.attempts == 0);
  CHECK(r.sim->requests() == 1);
  CHECK(r.metric("npcorch_letta_failures_total", {{"reason", "breaker_open"}}) == 1);
}

TEST_CASE("discipline: bounded per-agent queue rejects with overloaded") {
  auto o = fast();
  o.max_pending_per_agent = 2;
  rig r(o);
  int ok = 0, overloaded = 0;
  for (int i = 0; i < 5; ++i)
    r.client->get_agent("agent-a", [&](letta_result x) { x.ok ? ++ok : (x.error == "overloaded" ? ++overloaded : 0); });
  REQUIRE(run_until(r.io, [&] { return ok + overloaded == 5; }));
  CHECK(ok == 3);  // one in flight and two waiting
  CHECK(overloaded == 2);
}

namespace {
// Holds every request until the test answers it.
class held_transport final : public letta_transport {
 public:
  void execute(transport_request req, response_fn cb) override { held.push_back({std::move(req), std::move(cb)}); }
  void answer(std::size_t i, int status, std::string body) {
    transport_response r;
    r.status = status;
    r.body = std::move(body);
    auto cb = std::move(held.at(i).second);
    cb(std::move(r));
  }
  void fail(std::size_t i, std::string error) {  // no answer: status 0
    transport_response r;
    r.error = std::move(error);
    auto cb = std::move(held.at(i).second);
    cb(std::move(r));
  }
  std::vector<std::pair<transport_request, response_fn>> held;
};

// A discipline over a held_transport, on a manual clock and manual timers. At its end it stops
// the client and releases the calls still held: their callbacks own the client, as at exit.
struct held_rig {
  explicit held_rig(discipline_options o)
      : t(std::make_shared<held_transport>()),
        d(std::make_shared<letta_discipline>(io, t, std::move(o), clk, timers, metrics)) {}
  ~held_rig() {
    d->stop();
    t->held.clear();
  }
  boost::asio::io_context io;
  policies::manual_clock clk;
  manual_timer_service timers;
  metrics::registry metrics;
  std::shared_ptr<held_transport> t;
  std::shared_ptr<letta_discipline> d;
};
}  // namespace

TEST_CASE("discipline: block calls are syncs - a reply starts before the agent's queued block calls") {
  auto o = fast();
  o.per_agent_per_s = 1;  // message calls only: the block calls are not held by it
  o.per_agent_burst = 1;
  held_rig r(o);
  int blocks = 0;
  std::string reply_text;
  r.d->update_block("agent-a", "status", "s1", [&](letta_result x) { blocks += x.ok; });
  r.d->update_block("agent-a", "group_members", "{}", [&](letta_result x) { blocks += x.ok; });
  r.d->get_block("agent-a", "status", [&](letta_result x, std::string) { blocks += x.ok; });
  r.d->send_messages_as(letta_call_class::reply, "agent-a", say("hi"), [&](letta_result x, letta_reply rep) {
    if (x.ok) reply_text = rep.text;
  });
  REQUIRE(r.t->held.size() == 1);  // one request in flight per agent
  CHECK(r.t->held[0].first.endpoint == letta_endpoint::block_update);
  r.t->answer(0, 200, R"({"value":"s1","label":"status"})");
  REQUIRE(r.t->held.size() == 2);
  CHECK(r.t->held[1].first.endpoint == letta_endpoint::messages);  // the reply jumped the queued syncs
  r.t->answer(1, 200, R"({"messages":[{"message_type":"assistant_message","content":"hello"}]})");
  REQUIRE(r.t->held.size() == 3);
  CHECK(r.t->held[2].first.endpoint == letta_endpoint::block_update);
  r.t->answer(2, 200, R"({"value":"{}","label":"group_members"})");
  REQUIRE(r.t->held.size() == 4);
  r.t->answer(3, 200, R"({"value":"s1","label":"status"})");
  r.io.poll();
  CHECK(reply_text == "hello");
  CHECK(blocks == 3);
  CHECK(r.metrics.value("npcorch_letta_requests_total", {{"kind", "message"}, {"status", "200"}}) == 1);
  CHECK(r.metrics.value("npcorch_letta_requests_total", {{"kind", "block_write"}, {"status", "200"}}) == 2);
  CHECK(r.metrics.value("npcorch_letta_requests_total", {{"kind", "block_read"}, {"status", "200"}}) == 1);
  CHECK(r.d->max_agent_concurrency() == 1);
}

TEST_CASE("discipline: a too_large answer fails at once - not retried, counted, the breaker untouched") {
  auto o = fast();
  o.breaker_failure_threshold = 1;  // one server failure would open it
  held_rig r(o);
  std::optional<letta_result> got;
  r.d->get_block("agent-a", "status", [&](letta_result x, std::string) { got = x; });
  REQUIRE(r.t->held.size() == 1);
  r.t->fail(0, "too_large");
  r.io.poll();
  r.clk.advance(1s);  // past any backoff: a retry would be due by now
  r.timers.fire_due(r.clk.now());
  r.io.poll();
  REQUIRE(got);
  CHECK_FALSE(got->ok);
  CHECK(got->error == "too_large");
  CHECK(got->attempts == 1);
  CHECK(r.t->held.size() == 1);
  CHECK(r.metrics.value("npcorch_letta_not_retried_total", {{"reason", "too_large"}}) == 1);
  CHECK(r.metrics.value("npcorch_letta_failures_total", {{"reason", "too_large"}}) == 1);
  CHECK(r.metrics.value("npcorch_letta_retries_total") <= 0);
  // The breaker stayed closed: the next call is sent.
  r.d->get_block("agent-a", "status", [&](letta_result, std::string) {});
  CHECK(r.t->held.size() == 2);
}

TEST_CASE("discipline: blocks round-trip through the simulated backend - otids are filled") {
  rig r(fast());
  int done = 0;
  letta_result first;
  std::string value;
  r.client->get_block("agent-a", "group_members", [&](letta_result x, std::string) {
    first = x;
    ++done;
  });
  REQUIRE(run_until(r.io, [&] { return done == 1; }));
  CHECK_FALSE(first.ok);
  CHECK(first.http_status == 404);
  CHECK(first.error == "not_found");
  CHECK(first.attempts == 1);
  r.client->update_block("agent-a", "group_members", "{\"members\":{}}", [&](letta_result x) {
    CHECK(x.ok);
    ++done;
  });
  r.client->get_block("agent-a", "group_members", [&](letta_result x, std::string v) {
    CHECK(x.ok);
    value = v;
    ++done;
  });
  REQUIRE(run_until(r.io, [&] { return done == 3; }));
  CHECK(value == "{\"members\":{}}");
  r.sim->npc_edit("agent-a", "group_members", "edited");
  CHECK(r.sim->block("agent-a", "group_members") == std::optional<std::string>("edited"));
  CHECK_FALSE(r.sim->block("agent-b", "group_members").has_value());
}

TEST_CASE("discipline: missing agents get no message or block calls until verification finds them") {
  held_rig r(fast());
  r.d->set_missing_agents({"agent-gone"});
  std::vector<std::string> errors;
  r.d->send_messages_as(letta_call_class::reply, "agent-gone", say("hi"),
                        [&](letta_result x, letta_reply) { errors.push_back(x.error); });
  r.d->get_block("agent-gone", "status", [&](letta_result x, std::string) { errors.push_back(x.error); });
  r.d->update_block("agent-gone", "status", "s", [&](letta_result x) { errors.push_back(x.error); });
  r.io.poll();
  CHECK(errors == std::vector<std::string>{"agent_missing", "agent_missing", "agent_missing"});
  CHECK(r.t->held.empty());
  CHECK(r.metrics.value("npcorch_letta_calls_refused_total", {{"reason", "agent_missing"}}) == 3);
  // Verification lookups still go out; other agents are untouched.
  r.d->get_agent("agent-gone", [](letta_result) {});
  r.d->update_block("agent-here", "status", "s", [](letta_result) {});
  REQUIRE(r.t->held.size() == 2);
  CHECK(r.t->held[0].first.endpoint == letta_endpoint::agent_get);
  CHECK(r.t->held[1].first.agent_id == "agent-here");
  // A later verification finds it: calls go out again.
  r.d->set_missing_agents({});
  r.d->update_block("agent-gone", "status", "s", [](letta_result) {});
  r.t->answer(0, 200, "{}");
  REQUIRE(r.t->held.size() == 3);
  CHECK(r.t->held[2].first.agent_id == "agent-gone");
  CHECK(r.t->held[2].first.endpoint == letta_endpoint::block_update);
  // Answer the calls still held: an unfinished call keeps the discipline alive through its
  // lane (and the discipline keeps the transport), so the test would end in a reference cycle.
  for (std::size_t i = 1; i < r.t->held.size(); ++i) r.t->answer(i, 200, "{}");
  r.io.poll();
  CHECK(r.d->in_flight() == 0);
}

TEST_CASE("discipline: token use from usage is counted in total and per agent") {
  held_rig r(fast());
  letta_reply got;
  r.d->send_messages("agent-a", say("hi"), [&](letta_result, letta_reply rep) { got = rep; });
  r.d->send_messages("agent-b", say("hi"), [&](letta_result, letta_reply) {});
  REQUIRE(r.t->held.size() == 2);
  r.t->answer(
      0, 200,
      R"({"messages":[{"message_type":"assistant_message","content":"hello"}],"usage":{"message_type":"usage_statistics","prompt_tokens":120,"completion_tokens":30,"total_tokens":150}})");
  r.t->answer(1, 200, R"({"messages":[],"usage":{"prompt_tokens":80,"completion_tokens":5}})");
  r.io.poll();
  CHECK(got.text == "hello");
  CHECK(got.prompt_tokens == 120);
  CHECK(got.completion_tokens == 30);
  CHECK(r.metrics.value("npcorch_letta_tokens_total", {{"type", "prompt"}}) == 200);
  CHECK(r.metrics.value("npcorch_letta_tokens_total", {{"type", "completion"}}) == 35);
  CHECK(r.metrics.value("npcorch_letta_agent_tokens_total", {{"agent", "agent-a"}, {"type", "prompt"}}) == 120);
  CHECK(r.metrics.value("npcorch_letta_agent_tokens_total", {{"agent", "agent-b"}, {"type", "completion"}}) == 5);
}
