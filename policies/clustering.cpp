#include "policies/clustering.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/union_find.hpp"

namespace orch::policies {

namespace {

// Cell coordinates are clamped to 20 bits a side (about +-5 million studs at radius 10); a
// point beyond lands in an edge cell, where the exact distance check still decides.
constexpr std::int64_t cell_limit = std::int64_t{1} << 19;

std::int64_t cell_coord(double v, double inv_cell) {
  const double c = std::floor(v * inv_cell);
  if (!(c > static_cast<double>(-cell_limit)))
    return c <= static_cast<double>(-cell_limit) ? -cell_limit : 0;  // NaN -> 0
  if (c >= static_cast<double>(cell_limit)) return cell_limit;
  return static_cast<std::int64_t>(c);
}

double squared_radius(double radius) { return radius < 0 ? -1.0 : radius * radius; }

bool within(const point3& a, const point3& b, double r2) { return common::squared_distance(a, b) <= r2; }

}  // namespace

void clusterer::radix_sort(std::uint64_t max_key) {
  constexpr unsigned digit_bits = 11;
  constexpr std::uint64_t digit_mask = (1U << digit_bits) - 1;
  const auto n = order_.size();
  key_tmp_.resize(n);
  order_tmp_.resize(n);
  for (unsigned shift = 0; shift < 64 && (max_key >> shift) != 0; shift += digit_bits) {
    count_.assign(digit_mask + 2, 0);
    for (std::size_t i = 0; i < n; ++i) ++count_[((key_[i] >> shift) & digit_mask) + 1];
    for (std::size_t d = 0; d <= digit_mask; ++d) count_[d + 1] += count_[d];
    for (std::size_t i = 0; i < n; ++i) {
      const auto pos = count_[(key_[i] >> shift) & digit_mask]++;
      key_tmp_[pos] = key_[i];
      order_tmp_[pos] = order_[i];
    }
    key_.swap(key_tmp_);
    order_.swap(order_tmp_);
  }
}

void clusterer::run(std::span<const point3> pts, double radius, cluster_set& out) {
  out.members.clear();
  out.offsets.clear();
  const auto n = static_cast<std::uint32_t>(pts.size());
  if (n < 2) return;
  const double r2 = squared_radius(radius);
  // Cells a hair larger than the radius, so rounding in the division can never put two
  // points within range more than one cell apart.
  const double cell = radius > 0 ? radius * (1.0 + 1e-9) : 1.0;
  const double inv_cell = 1.0 / cell;

  // Pass 1: the bounding box of the cell coordinates (recomputed below rather than stored:
  // a smaller working set is faster than a second floor()).
  std::int64_t lo[3] = {cell_limit, cell_limit, cell_limit}, hi[3] = {-cell_limit, -cell_limit, -cell_limit};
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::int64_t c[3] = {cell_coord(pts[i].x, inv_cell), cell_coord(pts[i].y, inv_cell),
                               cell_coord(pts[i].z, inv_cell)};
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], c[a]);
      hi[a] = std::max(hi[a], c[a]);
    }
  }
  // Keys: x + W*(y + H*z) with a one-cell margin on each side, so a neighbour offset is a
  // constant delta and never wraps into another row.
  const auto w = static_cast<std::uint64_t>(hi[0] - lo[0] + 3), h = static_cast<std::uint64_t>(hi[1] - lo[1] + 3);
  key_.resize(n);
  order_.resize(n);
  std::uint64_t max_key = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto x = static_cast<std::uint64_t>(cell_coord(pts[i].x, inv_cell) - lo[0] + 1);
    const auto y = static_cast<std::uint64_t>(cell_coord(pts[i].y, inv_cell) - lo[1] + 1);
    const auto z = static_cast<std::uint64_t>(cell_coord(pts[i].z, inv_cell) - lo[2] + 1);
    key_[i] = x + w * (y + h * z);
    order_[i] = i;
    max_key = std::max(max_key, key_[i]);
  }
  radix_sort(max_key);

  // Pass 2: the distinct cells (runs of equal keys) and the points in key order.
  cell_key_.clear();
  cell_start_.clear();
  sorted_.resize(n);
  for (std::uint32_t p = 0; p < n; ++p) {
    if (p == 0 || key_[p] != key_[p - 1]) {
      cell_key_.push_back(key_[p]);
      cell_start_.push_back(p);
    }
    sorted_[p] = pts[order_[p]];
  }
  cell_start_.push_back(n);
  const auto cells = cell_key_.size();

  // Pass 3: union every pair within range, in the cell itself and its 13 forward
  // neighbours (z, then y, then x greater): constant positive key deltas.
  // A flat world (every point in one y layer, as in most towns) never has a neighbour at
  // dy != 0: skipping those offsets leaves 4 cursor scans instead of 13.
  std::uint64_t delta[13];
  std::size_t cursor[13] = {};
  int offsets = 0;
  {
    int& k = offsets;
    const bool flat_y = hi[1] == lo[1], flat_z = hi[2] == lo[2];
    for (int dz = 0; dz <= 1; ++dz)
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          if (dz == 0 && (dy < 0 || (dy == 0 && dx <= 0))) continue;
          if ((flat_y && dy != 0) || (flat_z && dz != 0)) continue;
          delta[k++] = static_cast<std::uint64_t>(static_cast<std::int64_t>(w * h) * dz +
                                                  static_cast<std::int64_t>(w) * dy + dx);
        }
  }
  sets_.reset(n);
  for (std::size_t c = 0; c < cells; ++c) {
    const std::uint32_t b = cell_start_[c], e = cell_start_[c + 1];
    for (std::uint32_t p = b; p < e; ++p)
      for (std::uint32_t q = p + 1; q < e; ++q)
        if (within(sorted_[p], sorted_[q], r2)) sets_.unite(p, q);
    for (int o = 0; o < offsets; ++o) {
      const std::uint64_t target = cell_key_[c] + delta[o];
      auto& cur = cursor[o];
      while (cur < cells && cell_key_[cur] < target) ++cur;
      if (cur == cells || cell_key_[cur] != target) continue;
      const std::uint32_t ob = cell_start_[cur], oe = cell_start_[cur + 1];
      for (std::uint32_t p = b; p < e; ++p)
        for (std::uint32_t q = ob; q < oe; ++q)
          if (within(sorted_[p], sorted_[q], r2)) sets_.unite(p, q);
    }
  }

  // Pass 4: label roots of sets with >= 2 members in order of their smallest index, then
  // scatter indices in ascending order so members come out sorted. The sets are over key
  // order positions (cache-friendly above); one scatter pass maps each point index to its
  // set's root, so the two passes over point indices below read it sequentially.
  constexpr std::uint32_t none = 0xffffffffU;
  auto& root_of = order_tmp_;  // by point index
  root_of.resize(n);
  size_.assign(n, 0);
  for (std::uint32_t p = 0; p < n; ++p) ++size_[root_of[order_[p]] = sets_.find(p)];
  label_.assign(n, none);
  std::uint32_t clusters = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto r = root_of[i];
    if (size_[r] >= 2 && label_[r] == none) label_[r] = clusters++;
    root_of[i] = size_[r] >= 2 ? label_[r] : none;  // from here on: the point's label
  }
  if (clusters == 0) return;
  out.offsets.assign(clusters + 1, 0);
  for (std::uint32_t i = 0; i < n; ++i)
    if (root_of[i] != none) ++out.offsets[root_of[i] + 1];
  for (std::uint32_t k = 0; k < clusters; ++k) out.offsets[k + 1] += out.offsets[k];
  out.members.resize(out.offsets[clusters]);
  count_.assign(out.offsets.begin(), out.offsets.end() - 1);  // reuse as cursor
  for (std::uint32_t i = 0; i < n; ++i)
    if (root_of[i] != none) out.members[count_[root_of[i]]++] = i;
}

cluster_set cluster_points(std::span<const point3> pts, double radius) {
  clusterer c;
  cluster_set out;
  c.run(pts, radius, out);
  return out;
}

std::vector<std::vector<std::string>> cluster_by_name(std::span<const named_point> pts, double radius) {
  std::vector<point3> p;
  p.reserve(pts.size());
  for (const auto& np : pts) p.push_back(np.p);
  const auto set = cluster_points(p, radius);
  std::vector<std::vector<std::string>> out;
  out.reserve(set.size());
  for (std::size_t k = 0; k < set.size(); ++k) {
    auto& names = out.emplace_back();
    for (auto i : set.cluster(k)) names.emplace_back(pts[i].name);
    std::sort(names.begin(), names.end());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.front() < b.front(); });
  return out;
}

cluster_set cluster_points_brute_force(std::span<const point3> pts, double radius) {
  const auto n = pts.size();
  const double r2 = squared_radius(radius);
  common::union_find sets(static_cast<std::uint32_t>(n));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j)
      if (within(pts[i], pts[j], r2)) sets.unite(static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(j));
  std::vector<std::vector<std::uint32_t>> groups(n);
  for (std::size_t i = 0; i < n; ++i)
    groups[sets.find(static_cast<std::uint32_t>(i))].push_back(static_cast<std::uint32_t>(i));
  std::vector<std::vector<std::uint32_t>> kept;
  for (auto& g : groups)
    if (g.size() >= 2) kept.push_back(std::move(g));
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.front() < b.front(); });
  cluster_set out;
  if (kept.empty()) return out;
  out.offsets.push_back(0);
  for (auto& g : kept) {
    out.members.insert(out.members.end(), g.begin(), g.end());
    out.offsets.push_back(static_cast<std::uint32_t>(out.members.size()));
  }
  return out;
}

}  // namespace orch::policies
