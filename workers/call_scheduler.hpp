#pragma once
// call_scheduler: when each outgoing call may make its next attempt (DESIGN 5.4), knowing
// nothing of Letta. The typed Letta API (letta_discipline) sits above it.
// - Lanes: one attempt in flight per lane (a Letta conversation, or an agent). A lane's
//   waiting calls start in class order (reply > npc > sync), then arrival order; a call keeps
//   its lane across its retries. Idle lanes compete the same way: the best (class, arrival)
//   head starts first; a retry arrives anew when its backoff ends. Beyond max_pending_per_lane a call fails at once
//   ("overloaded").
// - A global in-flight cap and a global token bucket counting every attempt; a per-agent
//   bucket counting only calls marked agent_rate (message calls). While reply or npc work is
//   queued, syncs may use at most sync_share of the global rate.
// - Retries: exponential backoff with full jitter, honouring Retry-After, up to max_attempts.
// - A circuit breaker fed by server failures. While it is open calls wait; a call held by it
//   for breaker_wait fails ("breaker_open").
//
// Ownership: create with std::make_shared (timers and attempt callbacks hold a reference);
// the timer service and metrics registry outlive it. Thread-safety: every public member may
// be called from any thread; one mutex guards the state; attempts and finish callbacks run
// outside it, never inline in submit()'s lock. Nothing ever sleeps: waits are timers from the
// injected timer_service. Each call's finish runs exactly once.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "common/metrics.hpp"
#include "policies/circuit_breaker.hpp"
#include "policies/clock.hpp"
#include "policies/retry_backoff.hpp"
#include "policies/token_bucket.hpp"
#include "workers/rate_gate.hpp"
#include "workers/timer_service.hpp"

namespace orch::workers {

// What a call is for; a lower value starts first.
enum class call_class : std::uint8_t { reply = 0, npc = 1, sync = 2 };

struct scheduler_options {
  std::uint32_t max_in_flight = 16;
  double global_per_s = 20;  // <= 0: unlimited
  double global_burst = 40;
  double per_agent_per_s = 2;  // <= 0: unlimited
  double per_agent_burst = 2;
  double sync_share = 0.5;  // 0..1 of the global rate for syncs while reply/npc work waits
  policies::backoff_options backoff;
  std::uint32_t breaker_failure_threshold = 10;
  std::chrono::milliseconds breaker_open{5000};
  std::chrono::milliseconds breaker_wait{60000};
  std::size_t max_pending_per_lane = 1000;
  std::uint64_t jitter_seed = 0;  // 0 = from std::random_device
  std::string metric_prefix = "npcorch_letta_";
  // The global and per-agent limits (rate_gate.hpp); null = local token buckets at the rates
  // above. A shared gate (redis_rate_gate) makes them one limit over every daemon.
  std::shared_ptr<rate_gate> gate;
};

// How one attempt ended.
struct attempt_result {
  bool ok = false;
  bool retryable = false;       // failed and worth another attempt
  bool server_failure = false;  // a sign of a sick server: feeds the breaker
  std::optional<policies::duration> retry_after;
};

struct call_spec {
  std::string lane;   // one attempt in flight per lane
  std::string agent;  // per-agent bucket key
  call_class cls = call_class::sync;
  bool agent_rate = false;  // counts toward the agent's bucket
  // Starts one attempt; `done` must be called exactly once, from any thread.
  std::function<void(std::function<void(attempt_result)> done)> attempt;
  // The call is over: error "" (ok), "failed" (its last attempt failed), "overloaded",
  // "breaker_open".
  std::function<void(std::string_view error, std::uint32_t attempts)> finish;
};

class call_scheduler : public std::enable_shared_from_this<call_scheduler> {
 public:
  call_scheduler(scheduler_options opts, const policies::clock& clock, timer_service& timers,
                 metrics::registry& metrics);

  void submit(call_spec spec);
  // The app is unwinding (its io threads are joined): every call not yet finished is dropped
  // without its finish, and so is every later submit (npcorch_letta_calls_dropped_at_stop_total).
  // This releases the callbacks that hold the client above, which holds this scheduler.
  void stop();
  // An attempt made `requests` more requests than the one it was started with (a
  // conversation's lookup, a read-back before a resend): they count toward the global rate
  // after the fact, so the calls that start next wait them out.
  void charge(std::uint32_t requests);

  // Observations for tests and the debug route.
  std::uint32_t in_flight() const;
  std::uint32_t max_in_flight_seen() const;
  std::uint32_t max_lane_concurrency() const;  // most attempts ever in flight in one lane
  std::size_t lanes() const;                   // lanes with work
  policies::breaker_state breaker_state() const;

 private:
  struct item {
    std::uint64_t seq = 0;
    call_spec spec;
    std::uint32_t attempts = 0;
    bool counted_wait = false;
    std::optional<policies::time_point> blocked_since;
  };
  using item_ptr = std::shared_ptr<item>;
  using ready_key = std::tuple<std::uint8_t, std::uint64_t, std::string>;  // (class, seq, lane)
  struct lane_state {
    std::map<std::pair<std::uint8_t, std::uint64_t>, item_ptr> pending;  // not started
    item_ptr current;                                                    // started: in flight or in backoff
    bool current_ready = false;  // current's backoff is over: it wants its next attempt
    std::uint32_t in_flight = 0;
    std::optional<ready_key> ready;  // its entry in ready_, when it has one
  };
  using action = std::function<void()>;
  using actions = std::vector<action>;

  void refresh_locked(const std::string& name, lane_state& l);
  void pump_locked(policies::time_point now, actions& out);
  item_ptr head_locked(lane_state& l) const;
  void take_head_locked(lane_state& l, const item_ptr& it);
  void start_locked(const std::string& name, lane_state& l, const item_ptr& it, policies::time_point now, actions& out);
  void on_done(const std::string& name, const item_ptr& it, attempt_result r);
  void finish_locked(const std::string& name, lane_state& l, const item_ptr& it, std::string error, actions& out);
  void wake_at_locked(policies::time_point t, policies::time_point now);
  void track_breaker_locked(std::uint64_t transitions_before, policies::time_point now);
  bool sync_must_wait_locked(policies::time_point now, policies::duration& wait) const;
  void wake_from_gate();
  static void run(actions& acts);

  scheduler_options opts_;
  const policies::clock& clock_;
  timer_service& timers_;
  metrics::registry& metrics_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, lane_state> lanes_;
  std::set<ready_key> ready_;        // lanes that may start an attempt, best first
  std::shared_ptr<rate_gate> gate_;  // global and per-agent limits
  bool gate_waker_set_ = false;
  policies::token_bucket sync_bucket_;
  policies::circuit_breaker breaker_;
  policies::jitter_source jitter_;
  std::uint64_t next_seq_ = 1;
  std::size_t urgent_queued_ = 0;  // reply/npc calls not yet started
  std::uint32_t in_flight_ = 0;
  std::uint32_t max_in_flight_seen_ = 0;
  std::uint32_t max_lane_concurrency_ = 0;
  std::optional<policies::time_point> wake_at_;
  bool stopped_ = false;

  metrics::counter& retries_;
  metrics::gauge& in_flight_gauge_;
  metrics::counter& extra_requests_;
  metrics::counter& rate_waits_;
  metrics::counter* replies_behind_[3];  // by call_class of the call in the busy lane
  metrics::counter& sync_share_waits_;
  metrics::gauge& breaker_gauge_;
  metrics::counter& dropped_at_stop_;
};

}  // namespace orch::workers
