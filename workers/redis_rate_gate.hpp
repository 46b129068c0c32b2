#pragma once
// redis_rate_gate: the rate limits shared by every daemon (DESIGN 10). Each limit is one GCRA
// key in a gcra_store (Redis: one atomic Lua script, run by EVALSHA); a token is asked for
// when the scheduler wants one, and the answer's wait schedules the request (the token is
// reserved at once, so several daemons asking together get successive slots).
// - One question in flight per key at a time; its answer is kept until the scheduler takes it.
// - Store down (or its answer an error): the configured rates apply locally (local_rate_gate)
//   until it answers again; counted in npcorch_redis_rate_asks_total{result="local"}.
// Counted: npcorch_redis_rate_asks_total{result="allowed|refused|failed|local"}.
//
// Ownership: create with std::make_shared (store answers hold a weak reference); the clock and
// the metrics registry outlive it. Thread-safety: every member may be called from any thread
// (one mutex); the waker runs outside it, from the store's answer (never inline).
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/metrics.hpp"
#include "policies/gcra.hpp"
#include "workers/rate_gate.hpp"

namespace orch::workers {

class redis_client;

// Where shared GCRA state lives. reserve() never answers inline (the gate calls it under
// its lock); nullopt = the store could not answer.
class gcra_store {
 public:
  using answer_fn = std::function<void(std::optional<policies::gcra_answer>)>;
  virtual ~gcra_store() = default;
  virtual bool up() const = 0;
  // `n` tokens at once.
  virtual void reserve(const std::string& key, const policies::gcra_params& p, std::uint32_t n, answer_fn cb) = 0;
};

// The GCRA Lua script (the steps of policies::gcra_reserve, on Redis' own clock).
const std::string& gcra_lua();

// gcra_store on a redis_client (which must outlive it).
class redis_gcra_store final : public gcra_store {
 public:
  // Registers the script with the client: call before client.start().
  explicit redis_gcra_store(redis_client& client);
  bool up() const override;
  void reserve(const std::string& key, const policies::gcra_params& p, std::uint32_t n, answer_fn cb) override;

 private:
  redis_client& client_;
  std::size_t script_;
};

class redis_rate_gate final : public rate_gate, public std::enable_shared_from_this<redis_rate_gate> {
 public:
  redis_rate_gate(std::shared_ptr<gcra_store> store, rate_limits limits, std::string key_prefix,
                  const policies::clock& clock, metrics::registry& metrics);

  policies::duration wait_time(rate_scope scope, const std::string& key, policies::time_point now) override;
  void take(rate_scope scope, const std::string& key, policies::time_point now) override;
  void charge(rate_scope scope, const std::string& key, policies::time_point now, std::uint32_t n) override;
  void set_waker(std::function<void()> wake) override;
  bool unlimited(rate_scope scope) const override { return local_.unlimited(scope); }

 private:
  struct slot {
    std::optional<policies::time_point> ready_at;     // a reserved token, usable from then
    std::optional<policies::time_point> retry_at;     // refused: ask again then
    std::optional<policies::time_point> local_until;  // the store failed: local limits until then
    bool asking = false;
  };
  bool local_locked(const slot* s, policies::time_point now) const;
  std::string slot_key(rate_scope scope, const std::string& key) const;
  void on_answer(const std::string& k, std::optional<policies::gcra_answer> a);

  std::shared_ptr<gcra_store> store_;
  rate_limits limits_;
  std::string prefix_;
  const policies::clock& clock_;
  std::mutex mu_;
  local_rate_gate local_;
  std::unordered_map<std::string, slot> slots_;  // the global key and each agent's
  std::function<void()> wake_;
  metrics::counter& allowed_;
  metrics::counter& refused_;
  metrics::counter& failed_;
  metrics::counter& local_taken_;
};

}  // namespace orch::workers
