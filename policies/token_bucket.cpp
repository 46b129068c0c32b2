#include "policies/token_bucket.hpp"

#include <algorithm>
#include <cmath>

namespace orch::policies {

token_bucket::token_bucket(double rate_per_s, double burst, time_point now)
    : rate_per_s_(rate_per_s), burst_(std::max(1.0, burst)), tokens_(burst_), last_(now) {}

double token_bucket::available(time_point now) const {
  if (unlimited()) return burst_;
  // A clock that steps back (it should not) is treated as no time passing.
  const auto dt = std::max(duration::zero(), now - last_);
  const double secs = std::chrono::duration<double>(dt).count();
  return std::min(burst_, tokens_ + secs * rate_per_s_);
}

bool token_bucket::try_acquire(time_point now, double n) {
  if (unlimited()) return true;
  const double have = available(now);
  if (now > last_) last_ = now;
  tokens_ = have;
  // A tiny epsilon absorbs floating-point dust so that wait_time() followed by a wait of
  // exactly that long always succeeds.
  if (have + 1e-9 < n) return false;
  tokens_ = have - n;
  return true;
}

void token_bucket::take(time_point now, double n) {
  if (unlimited()) return;
  const double have = available(now);
  if (now > last_) last_ = now;
  tokens_ = have - n;
}

duration token_bucket::wait_time(time_point now, double n) const {
  if (unlimited()) return duration::zero();
  const double missing = n - available(now);
  if (missing <= 1e-9) return duration::zero();
  const double secs = missing / rate_per_s_;
  return std::chrono::duration_cast<duration>(std::chrono::duration<double>(secs)) + duration(1);
}

}  // namespace orch::policies
