// The shared rate limits (DESIGN 10) on a manual clock: the GCRA arithmetic the Lua script
// runs, two schedulers ("two daemons") sharing one GCRA store that answers only when the test
// says so, and the local fallback while the store is down. Nothing sleeps.
#include <doctest/doctest.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "policies/clock.hpp"
#include "policies/gcra.hpp"
#include "workers/call_scheduler.hpp"
#include "workers/redis_rate_gate.hpp"
#include "workers/timer_service.hpp"

using namespace orch;
using namespace orch::workers;
using namespace std::chrono_literals;

namespace {

std::int64_t us(policies::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// A GCRA store held by the test: keys live here, answers wait in a queue until flush(), on
// the manual clock (as Redis answers later, on its own clock).
struct fake_store final : gcra_store {
  const policies::clock& clk;
  bool is_up = true;
  std::map<std::string, std::int64_t> tat;
  std::deque<std::function<void()>> answers;
  int asked = 0;
  explicit fake_store(const policies::clock& c) : clk(c) {}
  bool up() const override { return is_up; }
  void reserve(const std::string& key, const policies::gcra_params& p, std::uint32_t n, answer_fn cb) override {
    ++asked;
    answers.push_back([this, key, p, n, cb = std::move(cb)] {
      if (!is_up) return cb(std::nullopt);
      auto it = tat.find(key);
      auto a = policies::gcra_reserve(it == tat.end() ? std::nullopt : std::optional(it->second), us(clk.now()), p, n);
      if (a.allowed) tat[key] = a.tat_us;
      cb(a);
    });
  }
  void flush() {
    while (!answers.empty()) {
      auto a = std::move(answers.front());
      answers.pop_front();
      a();
    }
  }
};

struct daemon_rig {
  std::shared_ptr<redis_rate_gate> gate;
  std::shared_ptr<call_scheduler> s;
  int started = 0;
  std::vector<std::function<void(attempt_result)>> held;
  void submit(int n, const std::string& agent = "agent-a", bool agent_rate = false) {
    for (int i = 0; i < n; ++i) {
      call_spec c;
      c.lane = agent + "|lane-" + std::to_string(i);
      c.agent = agent;
      c.cls = call_class::reply;
      c.agent_rate = agent_rate;
      c.attempt = [this](std::function<void(attempt_result)> done) {
        ++started;
        done(attempt_result{true, false, false, std::nullopt});
      };
      c.finish = [](std::string_view, std::uint32_t) {};
      s->submit(std::move(c));
    }
  }
};

}  // namespace

TEST_CASE("gcra: a burst at once, then one token per interval; a slot too far is refused") {
  const auto p = policies::gcra_for(10, 3, 500'000);  // 100 ms apart, bursts of 3, waits up to 0.5 s
  CHECK(p.interval_us == 100'000);
  std::optional<std::int64_t> tat;
  const std::int64_t now = 1'000'000'000;
  std::vector<std::int64_t> waits;
  for (int i = 0; i < 8; ++i) {
    auto a = policies::gcra_reserve(tat, now, p);
    if (!a.allowed) {
      CHECK(i == 8);
      break;
    }
    waits.push_back(a.wait_us);
    tat = a.tat_us;
  }
  // Three at once, then 100 ms apart, until the wait passes 0.5 s (6 allowed, then refusals).
  REQUIRE(waits.size() == 8);
  CHECK(waits[0] == 0);
  CHECK(waits[2] == 0);
  CHECK(waits[3] == 100'000);
  CHECK(waits[7] == 500'000);
  auto refused = policies::gcra_reserve(tat, now, p);
  CHECK_FALSE(refused.allowed);
  CHECK(refused.wait_us == 100'000);
  CHECK(refused.tat_us == *tat);  // nothing reserved
  // Idle time refills the burst, never beyond it.
  auto later = policies::gcra_reserve(tat, now + 10'000'000, p);
  CHECK(later.allowed);
  CHECK(later.wait_us == 0);
}

TEST_CASE("gcra: in any window at most burst + window/interval tokens are handed out") {
  const auto p = policies::gcra_for(20, 4);
  std::optional<std::int64_t> tat;
  std::vector<std::int64_t> go;  // when each token may be used
  for (std::int64_t t = 0; t <= 2'000'000; t += 1'000) {
    for (int k = 0; k < 3; ++k) {  // demand far above the rate
      auto a = policies::gcra_reserve(tat, t, policies::gcra_params{p.interval_us, p.burst, 0});
      if (!a.allowed) continue;
      tat = a.tat_us;
      go.push_back(t + a.wait_us);
    }
  }
  std::size_t worst = 0;
  for (std::size_t i = 0; i < go.size(); ++i) {
    std::size_t j = i;
    while (j < go.size() && go[j] < go[i] + 1'000'000) ++j;
    worst = std::max(worst, j - i);
  }
  CHECK(worst <= 4 + 20);
  CHECK(worst >= 20);
  CHECK(go.size() >= 40);
}

TEST_CASE("shared rate gate: two schedulers on one store keep one global rate between them") {
  policies::manual_clock clk;
  manual_timer_service timers;
  metrics::registry m1, m2;
  auto store = std::make_shared<fake_store>(clk);
  const rate_limits limits{10, 2, 0, 1};  // 10/s over both, bursts of 2; no per-agent limit
  scheduler_options o;
  o.max_in_flight = 100;
  o.global_per_s = limits.global_per_s;
  o.global_burst = limits.global_burst;
  o.per_agent_per_s = 0;
  o.jitter_seed = 1;
  daemon_rig a, b;
  a.gate = std::make_shared<redis_rate_gate>(store, limits, "t:", clk, m1);
  b.gate = std::make_shared<redis_rate_gate>(store, limits, "t:", clk, m2);
  o.gate = a.gate;
  a.s = std::make_shared<call_scheduler>(o, clk, timers, m1);
  o.gate = b.gate;
  b.s = std::make_shared<call_scheduler>(o, clk, timers, m2);
  a.submit(100);
  b.submit(100);
  CHECK(a.started + b.started == 0);        // nothing goes before the store answers
  for (int step = 0; step < 300; ++step) {  // 3 s in 10 ms steps
    store->flush();
    clk.advance(10ms);
    timers.fire_due(clk.now());
  }
  store->flush();
  // 3 s at 10/s plus the burst of 2, shared: never twice that (each daemon alone would).
  const int total = a.started + b.started;
  CHECK(total >= 28);
  CHECK(total <= 10 * 3 + 2 + 1);
  CHECK(a.started >= 5);  // both daemons got slots
  CHECK(b.started >= 5);
  CHECK(m1.value("npcorch_redis_rate_asks_total", {{"result", "allowed"}}) >= 5);
  CHECK(m1.value("npcorch_redis_rate_asks_total", {{"result", "local"}}) == 0);
}

TEST_CASE("shared rate gate: store down means local limits at the configured rate, shared again when it answers") {
  policies::manual_clock clk;
  manual_timer_service timers;
  metrics::registry m;
  auto store = std::make_shared<fake_store>(clk);
  const rate_limits limits{10, 1, 0, 1};
  auto gate = std::make_shared<redis_rate_gate>(store, limits, "t:", clk, m);
  scheduler_options o;
  o.max_in_flight = 100;
  o.global_per_s = 10;
  o.global_burst = 1;
  o.per_agent_per_s = 0;
  o.gate = gate;
  daemon_rig d;
  d.gate = gate;
  d.s = std::make_shared<call_scheduler>(o, clk, timers, m);

  store->is_up = false;
  d.submit(50);
  CHECK(d.started == 1);  // local bucket: its burst at once, no store asked
  CHECK(store->asked == 0);
  for (int step = 0; step < 100; ++step) {  // 1 s
    clk.advance(10ms);
    timers.fire_due(clk.now());
  }
  CHECK(d.started >= 10);
  CHECK(d.started <= 12);
  CHECK(m.value("npcorch_redis_rate_asks_total", {{"result", "local"}}) == d.started);

  // Back up: the next token is asked of the store; a store that answers "down" mid-question
  // sends the gate to local limits for a while, then it asks again.
  store->is_up = true;
  const int before = d.started;
  for (int step = 0; step < 100 && store->asked == 0; ++step) {
    clk.advance(10ms);
    timers.fire_due(clk.now());
  }
  REQUIRE(store->asked == 1);
  store->flush();
  for (int step = 0; step < 100; ++step) {  // 1 s more, shared
    store->flush();
    clk.advance(10ms);
    timers.fire_due(clk.now());
  }
  store->flush();
  CHECK(d.started - before >= 9);
  CHECK(d.started - before <= 12);
  CHECK(m.value("npcorch_redis_rate_asks_total", {{"result", "allowed"}}) >= 9);

  for (int step = 0; step < 100 && store->answers.empty(); ++step) {
    clk.advance(10ms);
    timers.fire_due(clk.now());
  }
  REQUIRE_FALSE(store->answers.empty());
  store->is_up = false;  // goes down with a question in flight: answered "could not"
  store->flush();
  CHECK(m.value("npcorch_redis_rate_asks_total", {{"result", "failed"}}) == 1);
}
