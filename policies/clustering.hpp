#pragma once
// Single-link proximity clustering of 3-D points (DESIGN 5.1): two points whose distance is at
// most `radius` (inclusive) are in one cluster, transitively; a cluster has at least two
// members, a point alone is in none.
//
// A uniform grid with cells slightly larger than the radius puts every pair within range in
// the same or adjacent cells, so only 13 forward neighbour cells plus the cell itself are
// compared (union-find joins the pairs). The cells are found with an open-addressing hash of
// the packed cell coordinates and bucketed with a counting pass: linear in n, no per-point
// allocations. Pure: no I/O, no clock.
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

namespace orch::policies {

struct point3 {
  double x = 0, y = 0, z = 0;
};

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
  std::uint32_t find(std::uint32_t i);
  void unite(std::uint32_t a, std::uint32_t b);
  std::uint32_t cell_slot(std::uint64_t key) const;  // slot index in table_, or the empty slot

  struct slot {
    std::uint64_t key = 0;
    std::uint32_t cell = 0;  // cell index + 1; 0 = empty
  };
  std::vector<slot> table_;
  std::vector<std::uint64_t> cell_key_;   // per cell
  std::vector<std::uint32_t> cell_start_;  // per cell + 1 (prefix sums)
  std::vector<std::uint32_t> cell_of_;    // per point
  std::vector<std::uint32_t> order_;      // point indices grouped by cell
  std::vector<point3> sorted_;            // points in `order_` order (cache locality)
  std::vector<std::uint32_t> parent_;
  std::vector<std::uint32_t> size_;
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
