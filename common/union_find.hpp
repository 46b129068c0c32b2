#pragma once
// union_find: disjoint sets over the indices 0..n-1, with path halving. The root of a set is
// always its smallest index, so results do not depend on the order of unite() calls.
// reset(n) reuses the storage (no allocation once it has grown). Not thread-safe: one owner.
// How it fails: indices must be < size() (checked only by the vector in debug builds).
#include <cstdint>
#include <vector>

namespace orch::common {

class union_find {
 public:
  union_find() = default;
  explicit union_find(std::uint32_t n) { reset(n); }
  void reset(std::uint32_t n);
  std::uint32_t size() const { return static_cast<std::uint32_t>(parent_.size()); }
  std::uint32_t find(std::uint32_t i);
  // Joins the sets of a and b; returns false when they were one set already.
  bool unite(std::uint32_t a, std::uint32_t b);

 private:
  std::vector<std::uint32_t> parent_;
};

}  // namespace orch::common
