#include "common/union_find.hpp"

#include <algorithm>
#include <numeric>

namespace orch::common {

void union_find::reset(std::uint32_t n) {
  parent_.resize(n);
  std::iota(parent_.begin(), parent_.end(), 0U);
}

std::uint32_t union_find::find(std::uint32_t i) {
  while (parent_[i] != i) i = parent_[i] = parent_[parent_[i]];  // path halving
  return i;
}

bool union_find::unite(std::uint32_t a, std::uint32_t b) {
  a = find(a);
  b = find(b);
  if (a == b) return false;
  parent_[std::max(a, b)] = std::min(a, b);
  return true;
}

}  // namespace orch::common
