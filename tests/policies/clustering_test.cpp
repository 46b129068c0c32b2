// Tests policies/clustering.cpp against the O(n^2) reference.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "policies/clustering.hpp"

using orch::policies::cluster_by_name;
using orch::policies::cluster_points;
using orch::policies::cluster_points_brute_force;
using orch::policies::cluster_set;
using orch::policies::named_point;
using orch::policies::point3;

namespace {

std::vector<std::vector<std::uint32_t>> as_lists(const cluster_set& s) {
  std::vector<std::vector<std::uint32_t>> out;
  for (std::size_t k = 0; k < s.size(); ++k) out.emplace_back(s.cluster(k).begin(), s.cluster(k).end());
  return out;
}

std::vector<point3> random_scene(std::mt19937& rng, std::size_t n, double side) {
  std::uniform_real_distribution<double> u(-side / 2, side / 2);
  std::uniform_real_distribution<double> h(0, 8);
  std::vector<point3> pts(n);
  for (auto& p : pts) p = {u(rng), h(rng), u(rng)};
  return pts;
}

}  // namespace

TEST_CASE("clustering: two points exactly at the radius are one cluster, just beyond are none") {
  std::vector<point3> at{{0, 0, 0}, {10, 0, 0}};
  auto s = cluster_points(at, 10.0);
  REQUIRE(s.size() == 1);
  CHECK(as_lists(s)[0] == std::vector<std::uint32_t>{0, 1});

  std::vector<point3> diag{{0, 0, 0}, {6, 8, 0}};  // distance exactly 10
  CHECK(cluster_points(diag, 10.0).size() == 1);

  std::vector<point3> beyond{{0, 0, 0}, {10.0001, 0, 0}};
  CHECK(cluster_points(beyond, 10.0).size() == 0);
}

TEST_CASE("clustering: chains are transitive and singletons are in no cluster") {
  // A-B 8 apart, B-C 8 apart, A-C 16 apart: one cluster of three. D far away: none.
  std::vector<point3> pts{{0, 0, 0}, {8, 0, 0}, {16, 0, 0}, {100, 0, 100}};
  auto s = cluster_points(pts, 10.0);
  REQUIRE(s.size() == 1);
  CHECK(as_lists(s)[0] == std::vector<std::uint32_t>{0, 1, 2});
}

TEST_CASE("clustering: duplicate positions cluster together - empty and single inputs give none") {
  std::vector<point3> dup{{5, 5, 5}, {5, 5, 5}, {5, 5, 5}, {50, 5, 5}};
  auto s = cluster_points(dup, 10.0);
  REQUIRE(s.size() == 1);
  CHECK(s.cluster(0).size() == 3);
  CHECK(cluster_points(std::vector<point3>{}, 10.0).size() == 0);
  CHECK(cluster_points(std::vector<point3>{{1, 2, 3}}, 10.0).size() == 0);
  // Radius 0 joins only identical positions.
  CHECK(cluster_points(dup, 0.0).size() == 1);
}

TEST_CASE("clustering: matches the brute-force reference on random scenes") {
  std::mt19937 rng(12345);
  for (int round = 0; round < 60; ++round) {
    const std::size_t n = 2 + static_cast<std::size_t>(rng() % 400);
    const double side = 20.0 + static_cast<double>(rng() % 300);
    const double radius = 1.0 + static_cast<double>(rng() % 15);
    auto pts = random_scene(rng, n, side);
    // Negative coordinates and cell borders matter: also snap some points onto the grid.
    for (std::size_t i = 0; i < n; i += 7) pts[i].x = std::round(pts[i].x / radius) * radius;
    auto fast = as_lists(cluster_points(pts, radius));
    auto ref = as_lists(cluster_points_brute_force(pts, radius));
    REQUIRE(fast == ref);
  }
}

TEST_CASE("clustering: points exactly radius apart along a lattice match the reference") {
  std::vector<point3> pts;
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) {
      pts.push_back({i * 10.0, 0, j * 10.0});                  // exactly 10 apart
      pts.push_back({3.3 + i * 10.0, 50.0, -7.1 + j * 10.0});  // ~10 apart, rounding decides
      pts.push_back({i * 10.000001, 100.0, j * 30.0});         // just beyond
    }
  auto fast = as_lists(cluster_points(pts, 10.0));
  auto ref = as_lists(cluster_points_brute_force(pts, 10.0));
  CHECK(fast == ref);
  REQUIRE(!fast.empty());
  CHECK(fast[0].size() == 36);  // the exact lattice is one cluster
}

TEST_CASE("clustering: result by name does not depend on input order") {
  std::mt19937 rng(99);
  auto pts = random_scene(rng, 300, 150);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < pts.size(); ++i) names.push_back("e" + std::to_string(i));
  std::vector<named_point> np;
  for (std::size_t i = 0; i < pts.size(); ++i) np.push_back({names[i], pts[i]});
  auto base = cluster_by_name(np, 10.0);
  REQUIRE(!base.empty());
  for (const auto& c : base) CHECK(std::is_sorted(c.begin(), c.end()));
  for (int shuffle = 0; shuffle < 5; ++shuffle) {
    std::shuffle(np.begin(), np.end(), rng);
    CHECK(cluster_by_name(np, 10.0) == base);
  }
}
