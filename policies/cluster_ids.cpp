#include "policies/cluster_ids.hpp"

#include <algorithm>
#include <iterator>
#include <string_view>
#include <tuple>
#include <type_traits>

namespace orch::policies {

namespace {

// Ids compare numerically when they share the "c<N>" shape, so c2 sorts before c10.
bool id_less(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size();
  return a < b;
}

// a - b (both sorted) into `out`, which keeps its room.
template <class Member>
void minus_into(const std::vector<Member>& a, const std::vector<Member>& b, std::vector<Member>& out) {
  out.clear();
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
}

}  // namespace

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

template <class Member>
basic_id_assignment<Member> assign_cluster_ids(const std::vector<basic_id_cluster<Member>>& previous,
                                               std::vector<std::vector<Member>> next, std::uint64_t& next_id,
                                               basic_id_scratch<Member>& scratch) {
  using key = typename basic_id_scratch<Member>::key;
  // member -> previous cluster, sorted by member (a flat table: no node per member).
  auto& prev_of = scratch.prev_of;
  prev_of.clear();
  std::size_t previous_members = 0;
  for (const auto& p : previous) previous_members += p.members.size();
  prev_of.reserve(previous_members);
  for (std::size_t j = 0; j < previous.size(); ++j)
    for (const auto& m : previous[j].members) prev_of.emplace_back(m, j);
  std::sort(prev_of.begin(), prev_of.end());
  auto previous_of = [&](key m) -> std::size_t {
    auto it =
        std::lower_bound(prev_of.begin(), prev_of.end(), m, [](const auto& e, const key& v) { return e.first < v; });
    // A name listed twice in one previous cluster set maps to its first (smallest) cluster,
    // as the map's emplace did.
    return it != prev_of.end() && it->first == m ? it->second : previous.size();
  };

  // (overlap, previous index, next index) for every pair that shares a member.
  auto& pairs = scratch.pairs;
  pairs.clear();
  auto& counts = scratch.counts;
  counts.assign(previous.size(), 0);
  auto& touched = scratch.touched;
  for (std::size_t k = 0; k < next.size(); ++k) {
    touched.clear();
    for (const auto& m : next[k]) {
      const std::size_t j = previous_of(m);
      if (j == previous.size()) continue;
      if (counts[j]++ == 0) touched.push_back(j);
    }
    for (auto j : touched) {
      pairs.emplace_back(counts[j], j, k);
      counts[j] = 0;
    }
  }
  std::sort(pairs.begin(), pairs.end(), [&](const auto& a, const auto& b) {
    if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) > std::get<0>(b);
    const auto& ia = previous[std::get<1>(a)].id;
    const auto& ib = previous[std::get<1>(b)].id;
    if (ia != ib) return id_less(ia, ib);
    return std::get<2>(a) < std::get<2>(b);
  });

  constexpr std::size_t none = static_cast<std::size_t>(-1);
  auto& inherit = scratch.inherit;
  inherit.assign(next.size(), none);
  auto& prev_used = scratch.prev_used;
  prev_used.assign(previous.size(), false);
  for (auto [c, j, k] : pairs) {
    if (inherit[k] != none || prev_used[j]) continue;
    inherit[k] = j;
    prev_used[j] = true;
  }

  basic_id_assignment<Member> out;
  out.clusters.swap(scratch.clusters);
  out.clusters.clear();
  // The changes handed back keep their elements: each change below overwrites one (all four
  // fields), so its lists keep their room.
  out.changes.swap(scratch.changes);
  std::size_t used = 0;
  auto next_change = [&](const std::string& id) -> basic_id_change<Member>& {
    auto& c = used < out.changes.size() ? out.changes[used] : out.changes.emplace_back();
    ++used;
    c.id = id;
    return c;
  };
  out.clusters.reserve(next.size());
  for (std::size_t k = 0; k < next.size(); ++k) {
    basic_id_cluster<Member> cl;
    cl.members = std::move(next[k]);
    if (inherit[k] != none) {
      const auto& p = previous[inherit[k]];
      cl.id = p.id;
      auto& joined = scratch.joined;
      auto& left = scratch.left;
      minus_into(cl.members, p.members, joined);
      minus_into(p.members, cl.members, left);
      if (!joined.empty() || !left.empty()) {
        auto& c = next_change(cl.id);
        c.members = cl.members;  // copy-assigned: the reused list keeps its room
        c.joined.swap(joined);
        c.left.swap(left);
      }
    } else {
      cl.id = "c" + std::to_string(next_id++);
      auto& c = next_change(cl.id);
      c.members = cl.members;
      c.joined = cl.members;
      c.left.clear();
    }
    out.clusters.push_back(std::move(cl));
  }
  for (std::size_t j = 0; j < previous.size(); ++j) {
    if (prev_used[j]) continue;
    auto& c = next_change(previous[j].id);
    c.members.clear();
    c.joined.clear();
    c.left = previous[j].members;
  }
  out.changes.resize(used);
  for (auto& c : out.changes)  // reused lists keep no more room than their content needs
    for (auto* list : {&c.members, &c.joined, &c.left})
      if (list->capacity() > kept_list_room(list->size())) list->shrink_to_fit();
  return out;
}

template basic_id_assignment<std::string> assign_cluster_ids(const std::vector<basic_id_cluster<std::string>>&,
                                                             std::vector<std::vector<std::string>>, std::uint64_t&,
                                                             basic_id_scratch<std::string>&);
template basic_id_assignment<std::uint32_t> assign_cluster_ids(const std::vector<basic_id_cluster<std::uint32_t>>&,
                                                               std::vector<std::vector<std::uint32_t>>, std::uint64_t&,
                                                               basic_id_scratch<std::uint32_t>&);

}  // namespace orch::policies
