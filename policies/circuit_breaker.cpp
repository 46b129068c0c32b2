#include "policies/circuit_breaker.hpp"

#include <algorithm>

namespace orch::policies {

const char* to_string(breaker_state s) {
  switch (s) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
  }
  return "closed";
}

circuit_breaker::circuit_breaker(std::uint32_t failure_threshold, duration open_for)
    : threshold_(std::max<std::uint32_t>(1, failure_threshold)), open_for_(open_for) {}

void circuit_breaker::move_to(breaker_state s, time_point now) {
  if (s == state_) return;
  state_ = s;
  ++transitions_;
  if (s == breaker_state::open) opened_at_ = now;
  if (s != breaker_state::half_open) probe_out_ = false;
}

breaker_state circuit_breaker::state(time_point now) const {
  if (state_ == breaker_state::open && now >= reopen_at()) return breaker_state::half_open;
  return state_;
}

bool circuit_breaker::allow(time_point now) {
  if (state_ == breaker_state::open && now >= reopen_at()) move_to(breaker_state::half_open, now);
  switch (state_) {
    case breaker_state::closed:
      return true;
    case breaker_state::open:
      return false;
    case breaker_state::half_open:
      if (probe_out_) return false;
      probe_out_ = true;
      return true;
  }
  return false;
}

void circuit_breaker::on_success(time_point now) {
  // A late success from a call started before the breaker opened does not close it: only
  // the half-open probe does.
  if (state_ == breaker_state::open) return;
  failures_ = 0;
  move_to(breaker_state::closed, now);
}

void circuit_breaker::on_failure(time_point now) {
  ++failures_;
  if (state_ == breaker_state::half_open) {
    move_to(breaker_state::open, now);
  } else if (state_ == breaker_state::closed && failures_ >= threshold_) {
    move_to(breaker_state::open, now);
  }
  // Already open: a late failure from a call started before opening changes nothing.
}

}  // namespace orch::policies
