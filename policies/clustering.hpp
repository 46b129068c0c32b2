#pragma once
// Single-link proximity clustering of 3-D points (DESIGN 5.1): two points whose distance is at
// most `radius` (inclusive) are in one cluster, transitively; a cluster has at least two
// members, a point alone is in none.
//
// A uniform grid with cells slightly larger than the radius puts every pair within range in
// the same or adjacent cells, so only 13 forward neighbour cells plus the cell itself are
// compared (union-find joins the pairs). Cell coordinates are packed into one integer key
// (x fastest, z slowest, with a one-cell margin so neighbours never alias), the points are
// radix-sorted by key (LSD, 11-bit digits: linear in n), and each of the 13 forward
// neighbour offsets is a constant key delta, found with a cursor that only moves forward
// through the sorted cells: every pass is a sequential scan, so it stays linear and cache-
// friendly up to 100k+ points. Scratch buffers are reused: no per-point allocations.
// Pure: no I/O, no clock.
//
// Ownership / thread-safety: a `clusterer` owns its scratch buffers and is reused across calls
// by one thread at a time; separate instances are independent. The free functions build a
// temporary clusterer. How it fails: it does not; non-finite coordinates are clamped into the
// grid (they then only ever match themselves through the exact distance check).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/point3.hpp"
#include "common/union_find.hpp"

namespace orch::policies {

using common::point3;

// Clusters as a flat list: cluster k is members[offsets[k] .. offsets[k+1]).
// Members are point indices in ascending order; clusters are ordered by their smallest index.
struct cluster_set {
  std::vector<std::uint32_t> members;
  std::vector<std::uint32_t> offsets;  // size() + 1 entries (or empty when no cluster)

  std::size_t size() const { return offsets.empty() ? 0 : offsets.size() - 1; }
  std::span<const std::uint32_t> cluster(std::size_t k) const {
    return {members.data() + offsets[k], members.data() + offsets[k + 1]};
  }
};

class clusterer {
 public:
  // Clusters `pts` with single-link at `radius` into `out` (overwritten).
  void run(std::span<const point3> pts, double radius, cluster_set& out);

 private:
  void radix_sort(std::uint64_t max_key);

  std::vector<std::uint64_t> key_, key_tmp_;      // per point, sorted with order_
  std::vector<std::uint32_t> order_, order_tmp_;  // point indices in key order
  std::vector<std::uint32_t> count_;              // radix histogram
  std::vector<std::uint64_t> cell_key_;           // per distinct cell, ascending
  std::vector<std::uint32_t> cell_start_;         // per cell + 1: its range in order_
  std::vector<point3> sorted_;                    // points in `order_` order (cache locality)
  common::union_find sets_;                       // over key-order positions
  std::vector<std::uint32_t> size_;               // per root: its set's size
  std::vector<std::uint32_t> label_;
};

// Convenience over clusterer::run.
cluster_set cluster_points(std::span<const point3> pts, double radius);

// A named point; names are unique.
struct named_point {
  std::string_view name;
  point3 p;
};

// Clusters by name: each cluster's names sorted, clusters ordered by their first name. The
// result does not depend on the order of `pts`.
std::vector<std::vector<std::string>> cluster_by_name(std::span<const named_point> pts, double radius);

// The O(n^2) reference used by tests and benchmarks (same inclusive distance rule).
cluster_set cluster_points_brute_force(std::span<const point3> pts, double radius);

}  // namespace orch::policies
