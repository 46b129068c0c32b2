#pragma once
// The one percentile helper of npc-flood: nearest rank over sorted samples. Every latency the
// tool reports (ack, reply, typing) goes through it, so the figures agree with each other.
// Pure code. Thread-safety: none needed (no state). Failure: nullopt for no samples.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>
#include <vector>

namespace orch::tools {

// q in [0, 1] (clamped); `sorted` ascending. The smallest sample with at least q of all
// samples at or below it.
inline std::optional<double> nearest_rank(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::nullopt;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace orch::tools
