#pragma once
// Percentiles by nearest rank over samples sorted ascending: the one definition used by
// npc-flood's reports and the queue benchmark, so their figures agree. Pure, no state; fails
// only by returning nullopt for no samples.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <vector>

namespace orch::common {

// q in [0, 1] (clamped). The smallest sample with at least q of all samples at or below it.
inline std::optional<double> nearest_rank(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::nullopt;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace orch::common
