#pragma once
// Per-key cooldown: after `start(key, now)` the key is not ready again until `now + period`.
// Used for NPC speaking cooldowns (conversation.npc_cooldown_s).
//
// Ownership: a plain value owned by its user. Thread-safety: none (the owner locks).
// Failure: none; unknown keys are ready. Memory: one entry per key ever started, until prune().
#include <optional>
#include <string>
#include <unordered_map>

#include "policies/clock.hpp"

namespace orch::policies {

class cooldown {
 public:
  explicit cooldown(duration period) : period_(period) {}

  void set_period(duration period) { period_ = period; }
  duration period() const { return period_; }

  bool ready(const std::string& key, time_point now) const { return ready_at(key) <= now; }
  // The earliest time the key is ready (time_point::min() when it never started).
  time_point ready_at(const std::string& key) const;
  // When the key last started its cooldown, if ever.
  std::optional<time_point> last(const std::string& key) const;
  void start(const std::string& key, time_point now) { last_[key] = now; }
  void forget(const std::string& key) { last_.erase(key); }
  // Drops entries whose cooldown ended before `now` (they behave exactly like unknown keys
  // except for last()).
  void prune(time_point now);
  std::size_t size() const { return last_.size(); }

 private:
  duration period_;
  std::unordered_map<std::string, time_point> last_;
};

}  // namespace orch::policies
