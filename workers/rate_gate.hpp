#pragma once
// rate_gate: the rate limits the call_scheduler asks before each attempt (DESIGN 5.4, 10): the
// global rate counting every request and each agent's rate counting message calls. Two
// implementations: local_rate_gate (token buckets in this process: one daemon alone) and
// redis_rate_gate (one GCRA per key in Redis, shared by every daemon, falling back to a
// local_rate_gate while Redis is down).
//
// Protocol: the scheduler calls wait_time(); zero means "take() now and start"; a positive
// duration means "ask again after it"; `pending` means the answer is not known yet, and the
// gate calls the waker (set once, never from inside wait_time or take) when it is.
// Thread-safety: implementations may be called from any thread; the scheduler calls
// wait_time and take under its own lock, so a gate never calls back into it from them.
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include "policies/clock.hpp"
#include "policies/token_bucket.hpp"

namespace orch::workers {

enum class rate_scope : std::uint8_t { global, agent };

struct rate_limits {
  double global_per_s = 20;  // <= 0: unlimited
  double global_burst = 40;
  double per_agent_per_s = 2;  // <= 0: unlimited
  double per_agent_burst = 2;
};

class rate_gate {
 public:
  static constexpr policies::duration pending = policies::duration::max();
  virtual ~rate_gate() = default;
  // How long until one token of `scope` (agent: `key`) may be taken; see the protocol above.
  virtual policies::duration wait_time(rate_scope scope, const std::string& key, policies::time_point now) = 0;
  // Takes the token wait_time just said was there.
  virtual void take(rate_scope scope, const std::string& key, policies::time_point now) = 0;
  // `n` requests already made (outside any wait): counted after the fact, so later tokens wait
  // them out.
  virtual void charge(rate_scope scope, const std::string& key, policies::time_point now, std::uint32_t n) = 0;
  virtual void set_waker(std::function<void()> wake) = 0;
  virtual bool unlimited(rate_scope scope) const = 0;
};

// Token buckets in this process: today's single-daemon behaviour. Not thread-safe by itself:
// the caller serialises (the scheduler's lock, or redis_rate_gate's).
class local_rate_gate final : public rate_gate {
 public:
  local_rate_gate(rate_limits limits, policies::time_point now)
      : limits_(limits), global_(limits.global_per_s, limits.global_burst, now) {}

  policies::duration wait_time(rate_scope scope, const std::string& key, policies::time_point now) override {
    if (unlimited(scope)) return policies::duration::zero();
    return bucket(scope, key, now).wait_time(now);
  }
  void take(rate_scope scope, const std::string& key, policies::time_point now) override {
    if (!unlimited(scope)) bucket(scope, key, now).try_acquire(now);
  }
  void charge(rate_scope scope, const std::string& key, policies::time_point now, std::uint32_t n) override {
    if (!unlimited(scope)) bucket(scope, key, now).take(now, n);
  }
  void set_waker(std::function<void()>) override {}  // every answer is known at once
  bool unlimited(rate_scope scope) const override {
    return scope == rate_scope::global ? limits_.global_per_s <= 0 : limits_.per_agent_per_s <= 0;
  }

 private:
  policies::token_bucket& bucket(rate_scope scope, const std::string& key, policies::time_point now) {
    if (scope == rate_scope::global) return global_;
    auto it = agents_.find(key);
    if (it == agents_.end())
      it = agents_.emplace(key, policies::token_bucket(limits_.per_agent_per_s, limits_.per_agent_burst, now)).first;
    return it->second;
  }

  rate_limits limits_;
  policies::token_bucket global_;
  std::unordered_map<std::string, policies::token_bucket> agents_;  // bounded by the registry's agents
};

}  // namespace orch::workers
