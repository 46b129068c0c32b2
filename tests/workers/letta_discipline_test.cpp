// The call discipline over the simulated backend: real asio timers with millisecond latencies;
// assertions are on counts, order and metrics, never on elapsed time.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "workers/letta_discipline.hpp"
#include "workers/letta_simulated.hpp"

using namespace orch;
using namespace orch::workers;
using namespace std::chrono_literals;

namespace {

template <class Pred>
bool run_until(boost::asio::io_context& io, Pred done, std::chrono::seconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < end) {
    if (io.stopped()) io.restart();
    io.run_one_for(5ms);
  }
  return done();
}

struct rig {
  boost::asio::io_context io;
  policies::steady_clock clock;
  queues::registry metrics;
  std::shared_ptr<letta_simulated> sim;
  std::shared_ptr<letta_discipline> client;

  explicit rig(discipline_options o, std::chrono::milliseconds latency = 2ms) {
    o.jitter_seed = 1234;
    sim = std::make_shared<letta_simulated>(io, latency);
    client = std::make_shared<letta_discipline>(io, sim, o, clock, metrics);
  }
  double metric(const std::string& n, const queues::labels& l = {}) { return metrics.value(n, l); }
};

discipline_options fast() {
  discipline_options o;
  o.max_in_flight = 4;
  o.global_per_s = 0;  // unlimited
  o.per_agent_per_s = 0;
  o.backoff.base = 1ms;
  o.backoff.max = 4ms;
  o.backoff.max_attempts = 4;
  o.breaker_failure_threshold = 100;
  return o;
}

std::vector<letta_message> say(const std::string& text) { return {{"user", text, "Alice", ""}}; }

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
  r.client->update_block("agent-a", "status", "x", [&](letta_result res) { a = res; ++done; });
  REQUIRE(run_until(r.io, [&] { return done == 1; }));
  CHECK_FALSE(a.ok);
  CHECK(a.error == "http_400");
  CHECK(a.attempts == 1);
  r.sim->fail_next(100, 0);
  r.client->health([&](letta_result res) { b = res; ++done; });
  REQUIRE(run_until(r.io, [&] { return done == 2; }));
  CHECK_FALSE(b.ok);
  CHECK(b.error == "timeout");
  CHECK(b.attempts == 4);
  CHECK(r.metric("npcorch_letta_failures_total", {{"reason", "timeout"}}) == 1);
  CHECK(r.metric("npcorch_letta_calls_total", {{"endpoint", "health"}, {"status", "timeout"}}) == 4);
}

TEST_CASE("discipline: breaker opens, probes, closes - calls wait behind it") {
  auto o = fast();
  o.breaker_failure_threshold = 2;
  o.breaker_open = 30ms;
  o.backoff.max_attempts = 1;
  rig r(o);
  r.sim->fail_next(2, 503);
  int done = 0;
  std::vector<letta_result> res(3);
  r.client->get_agent("agent-a", [&](letta_result x) { res[0] = x; ++done; });
  r.client->get_agent("agent-b", [&](letta_result x) { res[1] = x; ++done; });
  REQUIRE(run_until(r.io, [&] { return done == 2; }));
  CHECK_FALSE(res[0].ok);
  CHECK_FALSE(res[1].ok);
  CHECK(r.client->breaker_state() == policies::breaker_state::open);
  CHECK(r.metric("npcorch_letta_breaker_state") == 1);
  const auto before = r.sim->requests();
  r.client->get_agent("agent-c", [&](letta_result x) { res[2] = x; ++done; });
  REQUIRE(run_until(r.io, [&] { return done == 3; }));
  CHECK(res[2].ok);  // waited for the half-open probe, which it was
  CHECK(r.sim->requests() == before + 1);
  CHECK(r.metric("npcorch_letta_breaker_state") == 0);
  CHECK(r.metric("npcorch_letta_breaker_transitions_total", {{"to", "open"}}) == 1);
  CHECK(r.metric("npcorch_letta_breaker_transitions_total", {{"to", "half_open"}}) == 1);
  CHECK(r.metric("npcorch_letta_breaker_transitions_total", {{"to", "closed"}}) == 1);
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
  r.client->get_block("agent-a", "status", [&](letta_result x, std::string) { last = x; ++done; });
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
  CHECK(ok == 2);
  CHECK(overloaded == 3);
}

TEST_CASE("discipline: rate limits make calls wait, every call still completes") {
  auto o = fast();
  o.global_per_s = 200;
  o.global_burst = 3;
  o.per_agent_per_s = 100;
  o.per_agent_burst = 1;
  rig r(o, 0ms);
  int done = 0;
  for (int i = 0; i < 12; ++i)
    r.client->get_agent(i % 2 ? "agent-a" : "agent-b", [&](letta_result x) { done += x.ok ? 1 : 0; });
  REQUIRE(run_until(r.io, [&] { return done == 12; }));
  CHECK(r.metric("npcorch_letta_rate_limited_waits_total") >= 9);
  CHECK(r.sim->requests() == 12);
}

TEST_CASE("discipline: blocks round-trip through the simulated backend - otids are filled") {
  rig r(fast());
  int done = 0;
  letta_result first;
  std::string value;
  r.client->get_block("agent-a", "group_members", [&](letta_result x, std::string) { first = x; ++done; });
  REQUIRE(run_until(r.io, [&] { return done == 1; }));
  CHECK_FALSE(first.ok);
  CHECK(first.http_status == 404);
  CHECK(first.error == "not_found");
  CHECK(first.attempts == 1);
  r.client->update_block("agent-a", "group_members", "{\"members\":{}}", [&](letta_result x) { CHECK(x.ok); ++done; });
  r.client->get_block("agent-a", "group_members", [&](letta_result x, std::string v) { CHECK(x.ok); value = v; ++done; });
  REQUIRE(run_until(r.io, [&] { return done == 3; }));
  CHECK(value == "{\"members\":{}}");
  r.sim->npc_edit("agent-a", "group_members", "edited");
  CHECK(r.sim->block("agent-a", "group_members") == std::optional<std::string>("edited"));
  CHECK_FALSE(r.sim->block("agent-b", "group_members").has_value());
}
