#pragma once
// letta_discipline: the call discipline around a raw letta_transport (DESIGN 5.4). It is the
// letta_client the rest of the daemon uses, whatever the backend.
// - One request in flight per agent; an agent's other calls wait FIFO in its own queue
//   (bounded: beyond max_pending_per_agent a call fails at once with "overloaded").
//   A call keeps its agent's slot across its retries, so calls to one agent finish in order.
// - A global cap on requests in flight, a global token bucket and one per agent; every
//   request counts (reads, retries and health checks too).
// - Retries with exponential backoff and full jitter (Retry-After honoured up to 60 s) on
//   timeouts, connection errors, 408, 409 (not PENDING_APPROVAL), 429 and 5xx; the same
//   request body, hence the same otids, is resent.
// - A circuit breaker fed by 5xx, timeouts and connection errors. While it is open, calls are
//   not failed at once: they wait in their queues for the half-open probe, but a call that has
//   been held by the breaker for `breaker_wait` (letta.timeout_ms; counted from when it first
//   found the breaker open, reset by each attempt) fails with "breaker_open".
//
// Ownership: create with std::make_shared (timers and transport callbacks hold a reference).
// Thread-safety: every public member may be called from any thread; one mutex guards the
// state; transports are called and callbacks posted outside it. No thread ever waits: rate
// limit, backoff and breaker waits are asio timers. Callbacks run exactly once, posted to the
// io_context.
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "policies/circuit_breaker.hpp"
#include "policies/clock.hpp"
#include "policies/retry_backoff.hpp"
#include "policies/token_bucket.hpp"
#include "queues/metrics.hpp"
#include "workers/letta_client.hpp"
#include "workers/letta_options.hpp"
#include "workers/letta_transport.hpp"

namespace orch::workers {

struct discipline_options {
  std::uint32_t max_in_flight = 16;
  double global_per_s = 20;
  double global_burst = 40;
  double per_agent_per_s = 2;
  double per_agent_burst = 2;
  policies::backoff_options backoff;
  std::uint32_t breaker_failure_threshold = 10;
  std::chrono::milliseconds breaker_open{5000};
  std::chrono::milliseconds breaker_wait{60000};  // longest wait of a call behind an open breaker
  std::size_t max_pending_per_agent = 1000;
  std::uint64_t jitter_seed = 0;  // 0 = from std::random_device

  static discipline_options from(const letta_options& o);
};

class letta_discipline final : public letta_client,
                               public std::enable_shared_from_this<letta_discipline> {
 public:
  letta_discipline(boost::asio::io_context& io, std::shared_ptr<letta_transport> transport,
                   discipline_options opts, const policies::clock& clock, queues::registry& metrics);

  void send_messages(const std::string& agent_id, std::vector<letta_message> messages,
                     reply_fn cb) override;
  void get_block(const std::string& agent_id, const std::string& label, block_fn cb) override;
  void update_block(const std::string& agent_id, const std::string& label, std::string value,
                    done_fn cb) override;
  void get_agent(const std::string& agent_id, done_fn cb) override;
  void health(done_fn cb) override;

  const std::shared_ptr<letta_transport>& transport() const { return transport_; }

  // Observations for tests and the debug route.
  std::uint32_t in_flight() const;
  std::uint32_t max_in_flight_seen() const;
  std::uint32_t max_agent_concurrency() const;  // most requests ever in flight for one agent
  policies::breaker_state breaker_state() const;

 private:
  using finish_fn = std::function<void(letta_result, transport_response)>;
  struct call {
    transport_request req;
    finish_fn finish;
    std::uint32_t attempts = 0;
    policies::time_point submitted{};
    policies::time_point attempt_started{};
    bool counted_wait = false;
    std::optional<policies::time_point> blocked_since;  // first seen waiting on an open breaker
    std::optional<boost::asio::steady_timer> retry_timer;
  };
  struct agent_state {
    std::deque<std::shared_ptr<call>> pending;  // front = the call holding the agent's slot
    bool active = false;                        // front call started (or is in backoff)
    std::uint32_t in_flight = 0;
    policies::token_bucket bucket;
  };
  using action = std::function<void()>;
  using actions = std::vector<action>;

  void submit(transport_request req, finish_fn finish);
  void pump_locked(policies::time_point now, actions& out);
  void start_locked(const std::string& key, agent_state& a, const std::shared_ptr<call>& c,
                    policies::time_point now, actions& out);
  void on_response(const std::string& key, std::shared_ptr<call> c, transport_response r);
  void complete_locked(const std::string& key, agent_state& a, letta_result res,
                       transport_response r, actions& out);
  void wake_at_locked(policies::time_point t, policies::time_point now);
  void track_breaker_locked(std::uint64_t transitions_before, policies::time_point now);
  std::string new_otid_locked();
  static void run(actions& acts);

  boost::asio::io_context& io_;
  std::shared_ptr<letta_transport> transport_;
  discipline_options opts_;
  const policies::clock& clock_;
  queues::registry& metrics_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, agent_state> agents_;
  std::deque<std::string> ready_;  // agents whose front call wants to start an attempt
  policies::token_bucket global_;
  policies::circuit_breaker breaker_;
  policies::jitter_source jitter_;
  std::mt19937_64 otid_rng_;
  std::uint32_t in_flight_ = 0;
  std::uint32_t max_in_flight_seen_ = 0;
  std::uint32_t max_agent_concurrency_ = 0;
  boost::asio::steady_timer wake_timer_;
  std::optional<policies::time_point> wake_at_;

  queues::counter& retries_;
  queues::gauge& in_flight_gauge_;
  queues::counter& rate_waits_;
  queues::gauge& breaker_gauge_;
  queues::histogram& latency_;
};

}  // namespace orch::workers
