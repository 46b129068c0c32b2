#pragma once
// Sliding-window rate limit per key: at most `limit` events in any `window` (default one
// minute). Used for conversation.player_turns_per_min: the excess is refused, not delayed.
//
// Ownership: a plain value owned by its user. Thread-safety: none (the owner locks).
// Failure: none. Memory: at most `limit` timestamps per key; prune() drops idle keys.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "policies/clock.hpp"

namespace orch::policies {

class rate_window {
 public:
  explicit rate_window(std::uint32_t limit, duration window = std::chrono::minutes(1))
      : limit_(limit), window_(window) {}

  void set_limit(std::uint32_t limit) { limit_ = limit; }
  // Records an event for `key` and returns true when it is within the limit; a refused event
  // is not recorded (it does not extend the penalty). limit 0 means unlimited.
  bool allow(const std::string& key, time_point now);
  // Events of `key` inside the window ending at `now`.
  std::uint32_t count(const std::string& key, time_point now) const;
  void prune(time_point now);
  std::size_t keys() const { return hits_.size(); }

 private:
  std::uint32_t limit_;
  duration window_;
  // Per key its accepted events inside the window, oldest first: a vector grown to at most
  // `limit` entries (about 8 bytes each), not a deque (whose 512-byte nodes cost a player
  // 0.6-1.2 KB however few turns it sent).
  std::unordered_map<std::string, std::vector<time_point>> hits_;
};

}  // namespace orch::policies
