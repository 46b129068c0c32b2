#pragma once
// token_bucket: a rate limit of `rate_per_s` with bursts up to `burst` (DESIGN 5.4). In any
// window of length T it lets at most burst + rate * T acquisitions through.
//
// Pure: time is passed in by the caller; no clock, no locks, no I/O. Not thread-safe: the
// owner (e.g. letta_discipline, under its mutex) serialises access. A rate <= 0 means
// "unlimited": every acquisition succeeds. Never fails otherwise.
#include <chrono>

#include "policies/clock.hpp"

namespace orch::policies {

class token_bucket {
 public:
  // Starts full (burst tokens available at `now`). burst < 1 is raised to 1.
  token_bucket(double rate_per_s, double burst, time_point now);

  // Takes `n` tokens when available at `now`; false (and nothing taken) otherwise.
  bool try_acquire(time_point now, double n = 1);
  // Takes `n` tokens at `now` whether or not they are there: the bucket may go into debt,
  // which later acquisitions wait out (work that was already done, such as the extra
  // requests of one attempt, still counts toward the rate).
  void take(time_point now, double n = 1);
  // How long from `now` until `n` tokens are available (zero when they already are).
  duration wait_time(time_point now, double n = 1) const;
  // Tokens available at `now` (fractional).
  double available(time_point now) const;

  bool unlimited() const { return rate_per_s_ <= 0; }
  double rate_per_s() const { return rate_per_s_; }
  double burst() const { return burst_; }

 private:
  double rate_per_s_;
  double burst_;
  double tokens_;
  time_point last_;
};

}  // namespace orch::policies
