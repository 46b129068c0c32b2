// The Letta-agnostic call scheduler on a manual clock with manual timers: attempts are held
// by the test and completed by hand, time moves only when the test advances it. Nothing sleeps.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "policies/clock.hpp"
#include "workers/call_scheduler.hpp"
#include "workers/timer_service.hpp"

using namespace orch;
using namespace orch::workers;
using namespace std::chrono_literals;

namespace {

struct attempt {
  std::string name;
  std::string lane;
  call_class cls;
  std::function<void(attempt_result)> done;
};

struct rig {
  policies::manual_clock clk;
  manual_timer_service timers;
  metrics::registry metrics;
  std::shared_ptr<call_scheduler> s;
  std::vector<attempt> started;  // every attempt, in start order
  std::vector<std::string> finished;
  std::vector<std::string> errors;
  std::vector<std::uint32_t> attempts;

  explicit rig(scheduler_options o) {
    o.jitter_seed = 42;
    s = std::make_shared<call_scheduler>(o, clk, timers, metrics);
  }
  void submit(const std::string& name, const std::string& lane, call_class cls, bool agent_rate = false,
              const std::string& agent = "agent-a") {
    call_spec c;
    c.lane = lane;
    c.agent = agent;
    c.cls = cls;
    c.agent_rate = agent_rate;
    c.attempt = [this, name, lane, cls](std::function<void(attempt_result)> done) {
      started.push_back({name, lane, cls, std::move(done)});
    };
    c.finish = [this, name](std::string_view error, std::uint32_t n) {
      finished.push_back(name);
      errors.emplace_back(error);
      attempts.push_back(n);
    };
    s->submit(std::move(c));
  }
  // Completes the i-th started attempt.
  void complete(std::size_t i, attempt_result r) {
    REQUIRE(i < started.size());
    REQUIRE(started[i].done);
    auto done = std::move(started[i].done);
    started[i].done = nullptr;
    done(r);
  }
  void ok(std::size_t i) { complete(i, attempt_result{true, false, false, std::nullopt}); }
  void advance(policies::duration d) {
    clk.advance(d);
    timers.fire_due(clk.now());
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& a : started) out.push_back(a.name);
    return out;
  }
  std::size_t count(call_class cls) const {
    std::size_t n = 0;
    for (const auto& a : started) n += a.cls == cls ? 1 : 0;
    return n;
  }
  double metric(const std::string& n, const metrics::labels& l = {}) const { return metrics.value(n, l); }
};

scheduler_options unlimited() {
  scheduler_options o;
  o.max_in_flight = 100;
  o.global_per_s = 0;
  o.per_agent_per_s = 0;
  o.backoff.base = 100ms;
  o.backoff.max = 1s;
  o.backoff.max_attempts = 3;
  o.breaker_failure_threshold = 100;
  return o;
}

attempt_result server_error() { return attempt_result{false, true, true, std::nullopt}; }

}  // namespace

TEST_CASE("call_scheduler: a reply never waits behind a queued sync in its lane") {
  rig r(unlimited());
  r.submit("sync-1", "conv-a", call_class::sync);
  r.submit("sync-2", "conv-a", call_class::sync);
  r.submit("sync-3", "conv-a", call_class::sync);
  r.submit("npc-1", "conv-a", call_class::npc);
  r.submit("reply-1", "conv-a", call_class::reply);
  REQUIRE(r.names() == std::vector<std::string>{"sync-1"});  // one in flight per lane
  CHECK(r.s->in_flight() == 1);
  r.ok(0);
  CHECK(r.names().back() == "reply-1");  // the reply jumps the queued syncs and the npc call
  r.ok(1);
  CHECK(r.names().back() == "npc-1");
  r.ok(2);
  r.ok(3);
  r.ok(4);
  CHECK(r.names() == std::vector<std::string>{"sync-1", "reply-1", "npc-1", "sync-2", "sync-3"});
  CHECK(r.finished == r.names());
  CHECK(r.s->max_lane_concurrency() == 1);
  CHECK(r.s->lanes() == 0);  // idle lanes are forgotten
}

TEST_CASE("call_scheduler: lanes start in class order then arrival order - the in-flight cap holds") {
  auto o = unlimited();
  o.max_in_flight = 1;
  rig r(o);
  r.submit("first", "lane-0", call_class::sync);
  r.submit("sync-a", "lane-a", call_class::sync);
  r.submit("npc-b", "lane-b", call_class::npc);
  r.submit("reply-c", "lane-c", call_class::reply);
  r.submit("reply-d", "lane-d", call_class::reply);
  r.submit("npc-e", "lane-e", call_class::npc);
  for (std::size_t i = 0; i < 6; ++i) {
    CHECK(r.s->in_flight() == 1);
    r.ok(i);
  }
  CHECK(r.names() == std::vector<std::string>{"first", "reply-c", "reply-d", "npc-b", "npc-e", "sync-a"});
  CHECK(r.s->max_in_flight_seen() == 1);
  CHECK(r.s->in_flight() == 0);
}

TEST_CASE("call_scheduler: syncs use at most sync_share of the global rate while replies wait") {
  auto o = unlimited();
  o.global_per_s = 10;
  o.global_burst = 10;
  o.sync_share = 0.5;  // syncs: 5/s, burst 5, while reply or npc work waits
  rig r(o);
  r.submit("busy", "conv-x", call_class::npc);     // holds conv-x
  r.submit("reply", "conv-x", call_class::reply);  // waits for conv-x
  for (int i = 0; i < 60; ++i) r.submit("sync-" + std::to_string(i), "conv-" + std::to_string(i), call_class::sync);
  CHECK(r.count(call_class::sync) == 5);  // the global burst would have allowed 9
  CHECK(r.metric("npcorch_letta_sync_share_waits_total") > 0);
  for (int step = 0; step < 10; ++step) r.advance(200ms);  // 2 s
  CHECK(r.count(call_class::sync) <= 5 + 10);
  CHECK(r.count(call_class::sync) >= 5 + 9);
  // The reply's lane frees up: the reply starts first, then syncs may use the whole rate.
  const auto n = r.started.size();
  r.ok(0);
  REQUIRE(r.started.size() > n);
  CHECK(r.started[n].name == "reply");
  const auto before = r.count(call_class::sync);
  for (int step = 0; step < 5; ++step) r.advance(200ms);  // 1 s at 10/s
  CHECK(r.count(call_class::sync) >= before + 9);
}

TEST_CASE("call_scheduler: the global rate counts every call, the agent rate message calls only") {
  auto o = unlimited();
  o.global_per_s = 2;
  o.global_burst = 2;
  rig r(o);
  for (int i = 0; i < 6; ++i) r.submit("c" + std::to_string(i), "lane-" + std::to_string(i), call_class::npc);
  CHECK(r.started.size() == 2);
  CHECK(r.metric("npcorch_letta_rate_limited_waits_total") >= 1);
  r.advance(1s);
  CHECK(r.started.size() == 4);
  r.advance(1s);
  CHECK(r.started.size() == 6);

  auto p = unlimited();
  p.per_agent_per_s = 1;
  p.per_agent_burst = 1;
  rig a(p);
  // One agent in three games: its message calls share its rate; its block calls do not.
  for (int g = 0; g < 3; ++g)
    a.submit("msg-" + std::to_string(g), "conv-" + std::to_string(g), call_class::reply, true);
  for (int g = 0; g < 3; ++g) a.submit("blk-" + std::to_string(g), "blk-" + std::to_string(g), call_class::sync, false);
  CHECK(a.count(call_class::reply) == 1);
  CHECK(a.count(call_class::sync) == 3);
  a.advance(1001ms);  // a token is whole just after 1 s
  CHECK(a.count(call_class::reply) == 2);
  a.advance(1001ms);
  CHECK(a.count(call_class::reply) == 3);
  // Another agent is not held by the first one's rate.
  a.submit("other", "conv-other", call_class::reply, true, "agent-b");
  CHECK(a.started.back().name == "other");
}

TEST_CASE("call_scheduler: requests an attempt makes beyond its own are charged to the global rate") {
  auto o = unlimited();
  o.global_per_s = 2;
  o.global_burst = 2;
  rig r(o);
  r.submit("setup", "lane-0", call_class::reply);
  REQUIRE(r.started.size() == 1);
  // The attempt looked its conversation up and created it: two more requests, one token left
  // before them, so the bucket owes one.
  r.s->charge(2);
  CHECK(r.metric("npcorch_letta_extra_requests_total") == 2);
  r.submit("next", "lane-1", call_class::reply);
  CHECK(r.started.size() == 1);
  r.advance(999ms);  // one owed and one wanted at 2/s: 1 s
  CHECK(r.started.size() == 1);
  r.advance(2ms);
  CHECK(r.started.size() == 2);
  CHECK(r.started.back().name == "next");
}

TEST_CASE("call_scheduler: retries back off with jitter, honour Retry-After and keep the lane") {
  rig r(unlimited());
  r.submit("msg", "conv-a", call_class::npc);
  r.submit("reply", "conv-a", call_class::reply);
  REQUIRE(r.started.size() == 1);
  r.complete(0, attempt_result{false, true, false, std::chrono::milliseconds(3000)});  // 429, Retry-After 3 s
  CHECK(r.started.size() == 1);  // in backoff: the lane stays held, the reply waits
  r.advance(2900ms);
  CHECK(r.started.size() == 1);
  r.advance(100ms);
  REQUIRE(r.started.size() == 2);
  CHECK(r.started[1].name == "msg");
  r.complete(1, server_error());  // backoff within [0, 200 ms] (full jitter)
  r.advance(200ms);
  REQUIRE(r.started.size() == 3);
  CHECK(r.started[2].name == "msg");
  r.complete(2, server_error());  // third attempt: no more retries
  REQUIRE(r.finished.size() == 1);
  CHECK(r.errors[0] == "failed");
  CHECK(r.attempts[0] == 3);
  CHECK(r.metric("npcorch_letta_retries_total") == 2);
  REQUIRE(r.started.size() == 4);
  CHECK(r.started[3].name == "reply");
  r.complete(3, attempt_result{false, false, false, std::nullopt});  // a 4xx: not retried
  CHECK(r.errors[1] == "failed");
  CHECK(r.attempts[1] == 1);
}

TEST_CASE("call_scheduler: the breaker opens, holds calls, probes and closes") {
  auto o = unlimited();
  o.breaker_failure_threshold = 2;
  o.breaker_open = 5s;
  o.backoff.max_attempts = 1;
  rig r(o);
  r.submit("a", "lane-a", call_class::npc);
  r.submit("b", "lane-b", call_class::npc);
  r.complete(0, server_error());
  r.complete(1, server_error());
  CHECK(r.s->breaker_state() == policies::breaker_state::open);
  CHECK(r.metric("npcorch_letta_breaker_state") == 1);
  r.submit("c", "lane-c", call_class::npc);
  r.submit("d", "lane-d", call_class::npc);
  CHECK(r.started.size() == 2);  // held by the open breaker
  r.advance(5s);
  REQUIRE(r.started.size() == 3);  // one half-open probe
  CHECK(r.started[2].name == "c");
  r.ok(2);
  CHECK(r.s->breaker_state() == policies::breaker_state::closed);
  REQUIRE(r.started.size() == 4);
  r.ok(3);
  CHECK(r.metric("npcorch_letta_breaker_transitions_total", {{"to", "open"}}) == 1);
  CHECK(r.metric("npcorch_letta_breaker_transitions_total", {{"to", "half_open"}}) == 1);
  CHECK(r.metric("npcorch_letta_breaker_transitions_total", {{"to", "closed"}}) == 1);
}

TEST_CASE("call_scheduler: a call waits behind an open breaker no longer than breaker_wait") {
  auto o = unlimited();
  o.breaker_failure_threshold = 1;
  o.breaker_open = 10s;
  o.breaker_wait = 2s;
  o.backoff.max_attempts = 1;
  rig r(o);
  r.submit("a", "lane-a", call_class::npc);
  r.complete(0, server_error());
  r.submit("b", "lane-b", call_class::sync);
  r.advance(1999ms);
  CHECK(r.finished.size() == 1);
  r.advance(1ms);
  REQUIRE(r.finished.size() == 2);
  CHECK(r.finished[1] == "b");
  CHECK(r.errors[1] == "breaker_open");
  CHECK(r.attempts[1] == 0);
  CHECK(r.started.size() == 1);
}

TEST_CASE("call_scheduler: a lane's queue is bounded - beyond it calls fail overloaded at once") {
  auto o = unlimited();
  o.max_pending_per_lane = 2;
  rig r(o);
  for (int i = 0; i < 5; ++i) r.submit("c" + std::to_string(i), "lane-a", call_class::npc);
  // c0 started (not pending), c1 and c2 pending, c3 and c4 refused.
  REQUIRE(r.finished.size() == 2);
  CHECK(r.errors[0] == "overloaded");
  CHECK(r.errors[1] == "overloaded");
  r.ok(0);
  r.ok(1);
  r.ok(2);
  CHECK(r.finished.size() == 5);
}

TEST_CASE("call_scheduler: stop() drops unfinished calls uncalled and releases their callbacks") {
  rig r(unlimited());
  // A call whose callbacks own something (as the Letta client's own callbacks own the client).
  auto owned = std::make_shared<int>(7);
  std::weak_ptr<int> watch = owned;
  call_spec c;
  c.lane = "conv-a";
  c.agent = "agent-a";
  c.cls = call_class::reply;
  c.attempt = [owned](std::function<void(attempt_result)>) {};
  c.finish = [owned](std::string_view, std::uint32_t) {};
  r.submit("in-flight", "conv-a", call_class::sync);  // starts: one attempt per lane
  r.s->submit(std::move(c));                          // queued behind it
  r.submit("queued", "conv-a", call_class::npc);
  owned.reset();
  REQUIRE(r.names() == std::vector<std::string>{"in-flight"});
  REQUIRE_FALSE(watch.expired());  // held by the queued call

  r.s->stop();
  CHECK(watch.expired());  // released with the dropped call
  CHECK(r.s->lanes() == 0);
  CHECK(r.metric("npcorch_letta_calls_dropped_at_stop_total") == 3);
  r.ok(0);  // the in-flight attempt ends after stop: nothing is started or finished
  r.submit("late", "conv-b", call_class::reply);
  CHECK(r.metric("npcorch_letta_calls_dropped_at_stop_total") == 4);
  CHECK(r.names() == std::vector<std::string>{"in-flight"});
  CHECK(r.finished.empty());
}
