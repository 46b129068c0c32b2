#pragma once
// circuit_breaker: stops calling a backend that keeps failing (DESIGN 5.4).
// closed --(failure_threshold consecutive failures)--> open --(open_for elapsed)--> half_open,
// which lets exactly one probe through: success -> closed, failure -> open again.
//
// Pure: `now` is passed in. Not thread-safe (the owner serialises access). Never fails.
#include <cstdint>

#include "policies/clock.hpp"

namespace orch::policies {

enum class breaker_state : std::uint8_t { closed = 0, open = 1, half_open = 2 };

const char* to_string(breaker_state s);

class circuit_breaker {
 public:
  circuit_breaker(std::uint32_t failure_threshold, duration open_for);

  // Whether a call may start at `now`. In half_open it grants one probe, then refuses until
  // that probe reports. Moves open -> half_open when open_for has elapsed.
  bool allow(time_point now);
  // The outcome of a call that allow() let through.
  void on_success(time_point now);
  void on_failure(time_point now);

  // The state at `now` without granting anything (open reads as half_open once due).
  breaker_state state(time_point now) const;
  // When an open breaker becomes half-open.
  time_point reopen_at() const { return opened_at_ + open_for_; }
  std::uint32_t consecutive_failures() const { return failures_; }
  std::uint64_t transitions() const { return transitions_; }

 private:
  void move_to(breaker_state s, time_point now);

  std::uint32_t threshold_;
  duration open_for_;
  breaker_state state_ = breaker_state::closed;
  std::uint32_t failures_ = 0;
  bool probe_out_ = false;
  time_point opened_at_{};
  std::uint64_t transitions_ = 0;
};

}  // namespace orch::policies
