#pragma once
// Stable cluster ids across snapshots (DESIGN 5.1). A new cluster keeps the id of the previous
// cluster it shares the most members with; pairs are taken greedily by overlap size (largest
// first), then by previous id, then by the new cluster's order, and each previous id is used
// at most once. A new cluster that inherits nothing gets a fresh id from the game's counter
// ("c1", "c2", ...). Every cluster whose membership changed gets a change with `joined` and
// `left`; a previous cluster that vanished gets a change with no members and everyone `left`,
// so a member who moved from A to B is in A.left and B.joined of the same snapshot.
//
// Pure: no I/O, no clock, no shared state; the caller owns the counter.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace orch::policies {

// Members are display names (std::string) or, for a caller that interns its names, ids of
// its own (std::uint32_t: one per entity, stable between two consecutive calls). The rules
// are the same; "sorted" means by the member type's own order.
template <class Member>
struct basic_id_cluster {
  std::string id;
  std::vector<Member> members;  // sorted
};

template <class Member>
struct basic_id_change {
  std::string id;
  std::vector<Member> members;  // after (sorted; empty = dissolved)
  std::vector<Member> joined;   // sorted
  std::vector<Member> left;     // sorted
};

template <class Member>
struct basic_id_assignment {
  std::vector<basic_id_cluster<Member>> clusters;  // every current cluster with its id, in the input order
  std::vector<basic_id_change<Member>> changes;    // clusters whose membership changed, then dissolved ones
};

using id_cluster = basic_id_cluster<std::string>;
using id_change = basic_id_change<std::string>;
using id_assignment = basic_id_assignment<std::string>;

// The working tables of one call, for a caller that calls often to keep (their capacity is
// reused: no allocation once warm). Holds nothing between calls that changes a result.
template <class Member>
struct basic_id_scratch {
  // Names are looked up as views (no copies), interned ids as themselves.
  using key = std::conditional_t<std::is_same_v<Member, std::string>, std::string_view, Member>;
  std::vector<std::pair<key, std::size_t>> prev_of;                      // member -> previous cluster, sorted
  std::vector<std::tuple<std::size_t, std::size_t, std::size_t>> pairs;  // (overlap, previous, next)
  std::vector<std::size_t> counts;
  std::vector<std::size_t> touched;
  std::vector<std::size_t> inherit;
  std::vector<bool> prev_used;
  std::vector<Member> joined, left;  // one change's, swapped into it (and its old lists back)
  // Room for the next call's clusters and changes: a caller may hand back an assignment's it no
  // longer needs (emptied by the next call before use).
  std::vector<basic_id_cluster<Member>> clusters;
  std::vector<basic_id_change<Member>> changes;  // the same for the changes, whose lists are reused
};

// How much room a reused list may keep for `n` elements: past this it is given back, so
// that lists reused from cluster to cluster do not each keep the largest size they ever held.
constexpr std::size_t kept_list_room(std::size_t n) { return 4 * n + 64; }

// `previous`: the clusters after the last snapshot (not `scratch.clusters`, which is reused). `next`: the new clusters
// (members sorted, as cluster_by_name gives them). `next_id`: the game's id counter, advanced for fresh ids. Defined
// for Member = std::string and std::uint32_t. `scratch`: the working tables, kept by a caller that calls often (the
// overload below makes its own).
template <class Member>
basic_id_assignment<Member> assign_cluster_ids(const std::vector<basic_id_cluster<Member>>& previous,
                                               std::vector<std::vector<Member>> next, std::uint64_t& next_id,
                                               basic_id_scratch<Member>& scratch);
template <class Member>
basic_id_assignment<Member> assign_cluster_ids(const std::vector<basic_id_cluster<Member>>& previous,
                                               std::vector<std::vector<Member>> next, std::uint64_t& next_id) {
  basic_id_scratch<Member> scratch;
  return assign_cluster_ids<Member>(previous, std::move(next), next_id, scratch);
}
// By name (the overload that braced lists of names pick).
inline id_assignment assign_cluster_ids(const std::vector<id_cluster>& previous,
                                        std::vector<std::vector<std::string>> next, std::uint64_t& next_id) {
  return assign_cluster_ids<std::string>(previous, std::move(next), next_id);
}

// `next_id` starts at 1 for a new game.
// "A, B" — used in summaries and update lines.
std::string join_names(const std::vector<std::string>& names);

}  // namespace orch::policies
