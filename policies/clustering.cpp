#include "policies/clustering.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

namespace orch::policies {

namespace {

constexpr std::int64_t cell_bias = std::int64_t{1} << 20;  // 21 bits per axis
constexpr std::int64_t cell_max = (std::int64_t{1} << 21) - 1;

std::int64_t cell_coord(double v, double inv_cell) {
  const double c = std::floor(v * inv_cell);
  // Also catches NaN (comparisons false): it lands in cell 0 of the biased range.
  if (!(c > static_cast<double>(-cell_bias))) return c <= static_cast<double>(-cell_bias) ? 0 : cell_bias;
  if (c >= static_cast<double>(cell_max - cell_bias)) return cell_max;
  return static_cast<std::int64_t>(c) + cell_bias;
}

std::uint64_t pack(std::int64_t cx, std::int64_t cy, std::int64_t cz) {
  return static_cast<std::uint64_t>(cx) | (static_cast<std::uint64_t>(cy) << 21) |
         (static_cast<std::uint64_t>(cz) << 42);
}

std::uint64_t mix(std::uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

// Half of the 26 neighbours: each unordered pair of adjacent cells is visited once.
constexpr std::array<std::array<int, 3>, 13> forward_neighbours{{{1, -1, -1}, {1, -1, 0}, {1, -1, 1},
                                                                 {1, 0, -1}, {1, 0, 0}, {1, 0, 1},
                                                                 {1, 1, -1}, {1, 1, 0}, {1, 1, 1},
                                                                 {0, 1, -1}, {0, 1, 0}, {0, 1, 1},
                                                                 {0, 0, 1}}};

double squared_radius(double radius) { return radius < 0 ? -1.0 : radius * radius; }

bool within(const point3& a, const point3& b, double r2) {
  const double dx = a.x - b.x, dy = a.y - b.y, dz = a.z - b.z;
  return dx * dx + dy * dy + dz * dz <= r2;
}

}  // namespace

std::uint32_t clusterer::find(std::uint32_t i) {
  while (parent_[i] != i) {
    parent_[i] = parent_[parent_[i]];  // path halving
    i = parent_[i];
  }
  return i;
}

void clusterer::unite(std::uint32_t a, std::uint32_t b) {
  a = find(a);
  b = find(b);
  if (a == b) return;
  if (size_[a] < size_[b]) std::swap(a, b);
  parent_[b] = a;
  size_[a] += size_[b];
}

std::uint32_t clusterer::cell_slot(std::uint64_t key) const {
  const std::size_t mask = table_.size() - 1;
  std::size_t s = static_cast<std::size_t>(mix(key)) & mask;
  while (table_[s].cell != 0 && table_[s].key != key) s = (s + 1) & mask;
  return static_cast<std::uint32_t>(s);
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

  std::size_t cap = 16;
  while (cap < 2 * static_cast<std::size_t>(n)) cap <<= 1;
  table_.assign(cap, slot{});
  cell_key_.clear();
  cell_of_.resize(n);

  // Pass 1: the cell of every point, numbering cells in first-seen order.
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto key = pack(cell_coord(pts[i].x, inv_cell), cell_coord(pts[i].y, inv_cell),
                          cell_coord(pts[i].z, inv_cell));
    const auto s = cell_slot(key);
    if (table_[s].cell == 0) {
      cell_key_.push_back(key);
      table_[s] = slot{key, static_cast<std::uint32_t>(cell_key_.size())};
    }
    cell_of_[i] = table_[s].cell - 1;
  }
  const auto cells = static_cast<std::uint32_t>(cell_key_.size());

  // Pass 2: bucket the points by cell (counting sort).
  cell_start_.assign(cells + 1, 0);
  for (std::uint32_t i = 0; i < n; ++i) ++cell_start_[cell_of_[i] + 1];
  for (std::uint32_t c = 0; c < cells; ++c) cell_start_[c + 1] += cell_start_[c];
  order_.resize(n);
  sorted_.resize(n);
  {
    // Reuse label_ as the per-cell fill cursor.
    label_.assign(cell_start_.begin(), cell_start_.end() - 1);
    for (std::uint32_t i = 0; i < n; ++i) {
      const auto pos = label_[cell_of_[i]]++;
      order_[pos] = i;
      sorted_[pos] = pts[i];
    }
  }

  // Pass 3: union every pair within range, in the cell itself and its forward neighbours.
  parent_.resize(n);
  std::iota(parent_.begin(), parent_.end(), 0U);
  size_.assign(n, 1);
  for (std::uint32_t c = 0; c < cells; ++c) {
    const std::uint32_t b = cell_start_[c], e = cell_start_[c + 1];
    for (std::uint32_t p = b; p < e; ++p)
      for (std::uint32_t q = p + 1; q < e; ++q)
        if (within(sorted_[p], sorted_[q], r2)) unite(order_[p], order_[q]);
    const std::uint64_t key = cell_key_[c];
    const auto cx = static_cast<std::int64_t>(key & 0x1fffff), cy = static_cast<std::int64_t>((key >> 21) & 0x1fffff),
               cz = static_cast<std::int64_t>(key >> 42);
    for (const auto& d : forward_neighbours) {
      const std::int64_t nx = cx + d[0], ny = cy + d[1], nz = cz + d[2];
      if (nx < 0 || ny < 0 || nz < 0 || nx > cell_max || ny > cell_max || nz > cell_max) continue;
      const auto s = cell_slot(pack(nx, ny, nz));
      if (table_[s].cell == 0) continue;
      const std::uint32_t oc = table_[s].cell - 1;
      const std::uint32_t ob = cell_start_[oc], oe = cell_start_[oc + 1];
      for (std::uint32_t p = b; p < e; ++p)
        for (std::uint32_t q = ob; q < oe; ++q)
          if (within(sorted_[p], sorted_[q], r2)) unite(order_[p], order_[q]);
    }
  }

  // Pass 4: label roots of sets with >= 2 members in order of their smallest index, then
  // scatter indices in ascending order so members come out sorted.
  constexpr std::uint32_t none = 0xffffffffU;
  label_.assign(n, none);
  std::uint32_t clusters = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto r = find(i);
    if (size_[r] >= 2 && label_[r] == none) label_[r] = clusters++;
  }
  if (clusters == 0) return;
  out.offsets.assign(clusters + 1, 0);
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto l = label_[find(i)];
    if (l != none) ++out.offsets[l + 1];
  }
  for (std::uint32_t k = 0; k < clusters; ++k) out.offsets[k + 1] += out.offsets[k];
  out.members.resize(out.offsets[clusters]);
  cell_start_.assign(out.offsets.begin(), out.offsets.end() - 1);  // reuse as cursor
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto l = label_[find(i)];
    if (l != none) out.members[cell_start_[l]++] = i;
  }
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
  std::vector<std::size_t> parent(n);
  std::iota(parent.begin(), parent.end(), std::size_t{0});
  auto find = [&](std::size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = i + 1; j < n; ++j)
      if (within(pts[i], pts[j], r2)) parent[find(i)] = find(j);
  std::vector<std::vector<std::uint32_t>> groups(n);
  for (std::size_t i = 0; i < n; ++i) groups[find(i)].push_back(static_cast<std::uint32_t>(i));
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
