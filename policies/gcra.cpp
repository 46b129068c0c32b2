#include "policies/gcra.hpp"

#include <algorithm>
#include <cmath>

namespace orch::policies {

gcra_answer gcra_reserve(std::optional<std::int64_t> tat, std::int64_t now_us, const gcra_params& p, std::int64_t n) {
  const std::int64_t base = std::max(tat.value_or(now_us), now_us);
  const std::int64_t next = base + p.interval_us * std::max<std::int64_t>(1, n);
  const auto tolerance =
      static_cast<std::int64_t>(std::llround(std::max(1.0, p.burst) * static_cast<double>(p.interval_us)));
  const std::int64_t wait = std::max<std::int64_t>(0, next - tolerance - now_us);
  if (wait > p.max_wait_us) return {false, wait - p.max_wait_us, tat.value_or(now_us)};
  return {true, wait, next};
}

gcra_params gcra_for(double rate_per_s, double burst, std::int64_t max_wait_us) {
  gcra_params p;
  p.interval_us = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::llround(1e6 / rate_per_s)));
  p.burst = std::max(1.0, burst);
  p.max_wait_us = max_wait_us;
  return p;
}

}  // namespace orch::policies
