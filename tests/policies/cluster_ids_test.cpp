// Tests policies/cluster_ids.cpp: stable ids, joined/left, dissolved clusters.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <random>

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

// The interned variant (members as uint32 ids, sorted by id) against the one by name, on
// random sequences, with ids that do not follow the names' order: the same ids, the same
// changes in the same order, the same members (as sets).
// The interned side also reuses one scratch for all 300 rounds (as game_state does), the named
// side a fresh one per call: what a scratch held before must not change a result.
TEST_CASE("cluster ids: members as interned ids, with a reused scratch, give what members as names give") {
  using orch::policies::basic_id_cluster;
  std::mt19937 rng(5);
  constexpr std::uint32_t n = 40;
  std::vector<std::uint32_t> slot_of(n);  // name k -> its interned id
  std::iota(slot_of.begin(), slot_of.end(), 100U);
  std::shuffle(slot_of.begin(), slot_of.end(), rng);
  std::vector<std::string> name_of(200);
  for (std::uint32_t k = 0; k < n; ++k) name_of[slot_of[k]] = "n" + std::string(k < 10 ? "0" : "") + std::to_string(k);
  auto names = [&](std::vector<std::uint32_t> slots) {
    S out;
    for (auto s : slots) out.push_back(name_of[s]);
    std::sort(out.begin(), out.end());
    return out;
  };
  std::vector<id_cluster> prev_names;
  std::vector<basic_id_cluster<std::uint32_t>> prev_slots;
  std::uint64_t next_a = 1, next_b = 1;
  std::size_t changes = 0, inherited = 0;
  orch::policies::basic_id_scratch<std::uint32_t> scratch;
  for (int round = 0; round < 300; ++round) {
    // A random partition of a random subset into groups of 2+, groups ordered by first name.
    std::vector<int> group(n);
    for (auto& g : group) g = std::uniform_int_distribution<int>(-3, 7)(rng);  // < 0: alone
    std::vector<S> by_name;
    std::vector<std::vector<std::uint32_t>> by_slot;
    for (int g = 0; g < 8; ++g) {
      S members;
      std::vector<std::uint32_t> slots;
      for (std::uint32_t k = 0; k < n; ++k)
        if (group[k] == g) members.push_back(name_of[slot_of[k]]), slots.push_back(slot_of[k]);
      if (members.size() < 2) continue;
      std::sort(members.begin(), members.end());
      std::sort(slots.begin(), slots.end());
      by_name.push_back(members);
      by_slot.push_back(slots);
    }
    std::vector<std::size_t> order(by_name.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return by_name[a][0] < by_name[b][0]; });
    std::vector<S> next_names;
    std::vector<std::vector<std::uint32_t>> next_slots;
    for (auto i : order) next_names.push_back(by_name[i]), next_slots.push_back(by_slot[i]);
    auto a = assign_cluster_ids(prev_names, next_names, next_a);
    auto b = orch::policies::assign_cluster_ids<std::uint32_t>(prev_slots, next_slots, next_b, scratch);
    CHECK(next_a == next_b);
    REQUIRE(a.clusters.size() == b.clusters.size());
    for (std::size_t i = 0; i < a.clusters.size(); ++i) {
      CHECK(a.clusters[i].id == b.clusters[i].id);
      CHECK(a.clusters[i].members == names(b.clusters[i].members));
      CHECK(std::is_sorted(b.clusters[i].members.begin(), b.clusters[i].members.end()));
    }
    REQUIRE(a.changes.size() == b.changes.size());
    for (std::size_t i = 0; i < a.changes.size(); ++i) {
      CHECK(a.changes[i].id == b.changes[i].id);
      CHECK(a.changes[i].members == names(b.changes[i].members));
      CHECK(a.changes[i].joined == names(b.changes[i].joined));
      CHECK(a.changes[i].left == names(b.changes[i].left));
    }
    changes += a.changes.size();
    for (const auto& c : a.clusters)  // kept a previous cluster's id
      inherited += std::count_if(prev_names.begin(), prev_names.end(), [&](const auto& p) { return p.id == c.id; });
    prev_names = std::move(a.clusters);
    scratch.clusters = std::move(prev_slots);  // handed back, as game_state does
    scratch.changes = std::move(b.changes);
    prev_slots = std::move(b.clusters);
  }
  CHECK(changes > 300);
  CHECK(next_a > 50);
  CHECK(inherited > 300);
}

// A reused scratch does not keep each list at the largest size it ever held: after a crowd of
// 400 disperses into pairs, the changes handed back and reused keep room for what they hold.
TEST_CASE("cluster ids: reused change lists give back the room of a crowd that dispersed") {
  using orch::policies::basic_id_cluster;
  using orch::policies::kept_list_room;
  orch::policies::basic_id_scratch<std::uint32_t> scratch;
  std::uint64_t next_id = 1;
  std::vector<basic_id_cluster<std::uint32_t>> previous;
  auto step = [&](std::vector<std::vector<std::uint32_t>> next) {
    auto a = orch::policies::assign_cluster_ids<std::uint32_t>(previous, std::move(next), next_id, scratch);
    scratch.clusters = std::move(previous);  // handed back, as game_state does
    scratch.changes = std::move(a.changes);
    previous = std::move(a.clusters);
  };
  std::vector<std::uint32_t> crowd(400);
  std::iota(crowd.begin(), crowd.end(), 0U);
  step({crowd});  // one change of 400 members
  REQUIRE(scratch.changes.size() == 1);
  CHECK(scratch.changes[0].members.capacity() >= 400);
  auto pairs = [](std::uint32_t offset) {
    std::vector<std::vector<std::uint32_t>> out;
    for (std::uint32_t i = 0; i + 1 < 400; i += 2) out.push_back({i + offset, i + 1 + offset});
    return out;
  };
  step(pairs(0));     // the crowd splits: 200 changes, the first reusing the crowd's lists
  step(pairs(1000));  // everyone new: 200 fresh clusters and 200 dissolved
  REQUIRE(scratch.changes.size() == 400);
  for (const auto& c : scratch.changes) {
    CHECK(c.members.capacity() <= kept_list_room(c.members.size()));
    CHECK(c.joined.capacity() <= kept_list_room(c.joined.size()));
    CHECK(c.left.capacity() <= kept_list_room(c.left.size()));
  }
}
