// Tests policies/cluster_ids.cpp: stable ids, joined/left, dissolved clusters.
#include <doctest/doctest.h>

#include "policies/cluster_ids.hpp"

using orch::policies::assign_cluster_ids;
using orch::policies::id_cluster;
using S = std::vector<std::string>;

TEST_CASE("cluster ids: fresh ids from the game's counter, everyone joined") {
  std::uint64_t next = 1;
  auto r = assign_cluster_ids({}, {S{"A", "B"}, S{"C", "D", "E"}}, next);
  REQUIRE(r.clusters.size() == 2);
  CHECK(r.clusters[0].id == "c1");
  CHECK(r.clusters[1].id == "c2");
  CHECK(next == 3);
  REQUIRE(r.changes.size() == 2);
  CHECK(r.changes[0].joined == S{"A", "B"});
  CHECK(r.changes[0].left.empty());
}

TEST_CASE("cluster ids: unchanged membership keeps the id and produces no change") {
  std::uint64_t next = 5;
  auto r = assign_cluster_ids({{"c4", {"A", "B"}}}, {S{"A", "B"}}, next);
  CHECK(r.clusters[0].id == "c4");
  CHECK(r.changes.empty());
  CHECK(next == 5);
}

TEST_CASE("cluster ids: a member moving from A to B is in A.left and B.joined in one diff") {
  std::uint64_t next = 3;
  std::vector<id_cluster> prev{{"c1", {"A", "B", "X"}}, {"c2", {"C", "D"}}};
  auto r = assign_cluster_ids(prev, {S{"A", "B"}, S{"C", "D", "X"}}, next);
  REQUIRE(r.clusters.size() == 2);
  CHECK(r.clusters[0].id == "c1");
  CHECK(r.clusters[1].id == "c2");
  REQUIRE(r.changes.size() == 2);
  CHECK(r.changes[0].id == "c1");
  CHECK(r.changes[0].left == S{"X"});
  CHECK(r.changes[0].joined.empty());
  CHECK(r.changes[1].id == "c2");
  CHECK(r.changes[1].joined == S{"X"});
  CHECK(next == 3);
}

TEST_CASE("cluster ids: a dissolved cluster gets an empty change with everyone left") {
  std::uint64_t next = 2;
  auto r = assign_cluster_ids({{"c1", {"A", "B"}}}, {}, next);
  CHECK(r.clusters.empty());
  REQUIRE(r.changes.size() == 1);
  CHECK(r.changes[0].id == "c1");
  CHECK(r.changes[0].members.empty());
  CHECK(r.changes[0].left == S{"A", "B"});
}

TEST_CASE("cluster ids: a split keeps the id for the larger part - a previous id is used once") {
  std::uint64_t next = 2;
  auto r = assign_cluster_ids({{"c1", {"A", "B", "C", "D", "E"}}}, {S{"A", "B"}, S{"C", "D", "E"}}, next);
  REQUIRE(r.clusters.size() == 2);
  CHECK(r.clusters[0].id == "c2");  // the smaller part is new
  CHECK(r.clusters[1].id == "c1");
  CHECK(next == 3);
}

TEST_CASE("cluster ids: a merge keeps the id with the largest overlap, ties by lower id") {
  std::uint64_t next = 20;
  auto r = assign_cluster_ids({{"c10", {"A", "B"}}, {"c9", {"C", "D"}}}, {S{"A", "B", "C", "D"}}, next);
  REQUIRE(r.clusters.size() == 1);
  CHECK(r.clusters[0].id == "c9");  // tie on overlap 2: c9 < c10 numerically
  REQUIRE(r.changes.size() == 2);
  CHECK(r.changes[0].joined == S{"A", "B"});
  CHECK(r.changes[1].id == "c10");
  CHECK(r.changes[1].members.empty());
  CHECK(r.changes[1].left == S{"A", "B"});
}
