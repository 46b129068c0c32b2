#pragma once
// When to (re)write an NPC's memory blocks (DESIGN 5.2, seed 002). Pure: the caller passes the
// NPC's cached group state, what the snapshot says now, and `now` from its clock.
//
// Rules, checked in this order:
//  - retry:   the last sync finally failed (or there is no cached state yet -> changed);
//  - forced:  `force_refresh` has passed since the last forced write;
//  - changed: members, location or action differ from the cached ones;
//  - stale:   `stale_after` has passed since the last write;
//  - none:    a cache hit, nothing to write.
// A `changed` write whose block texts (timestamps aside) hash to what was last written is
// skipped as a no-op by the caller (see block_needs_write); forced/stale/retry write anyway.
//
// Thread-safety: values only. Failure: none.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/fnv1a.hpp"
#include "policies/clock.hpp"

namespace orch::policies {

struct group_update_options {
  duration stale_after = std::chrono::seconds(30);
  duration force_refresh = std::chrono::seconds(300);
};

enum class update_reason : std::uint8_t { none, changed, stale, forced, retry };
std::string_view to_string(update_reason r);  // "none", "changed", "stale", "forced", "retry"

// The per-NPC cache entry. Members are display names (sorted), the NPC itself excluded.
struct npc_group_state {
  bool known = false;  // false until the first write was decided
  std::vector<std::string> members;
  std::string location;
  std::string action;
  time_point last_updated{};
  time_point last_forced{};
  std::uint64_t members_hash = 0;  // hash of the group_members text last written, timestamps aside
  std::uint64_t status_hash = 0;   // hash of the status text last written
  bool sync_failed = false;        // the last sync finally failed: write again at next snapshot
};

update_reason decide_group_update(const npc_group_state& s, const std::vector<std::string>& members,
                                  std::string_view location, std::string_view action, time_point now,
                                  const group_update_options& o);

// Whether a block with content hash `fresh` must be written for `reason`: always for
// forced/stale/retry, for changed only when it differs from the last written hash.
bool block_needs_write(update_reason reason, std::uint64_t last_hash, std::uint64_t fresh);

// Records a decided write in the cache (members, location, action, hashes, times).
void record_write(npc_group_state& s, update_reason reason, const std::vector<std::string>& members,
                  std::string_view location, std::string_view action, std::uint64_t members_hash,
                  std::uint64_t status_hash, time_point now);

// Records a changed state whose write was skipped as a no-op: the new state is cached, the
// write times are kept.
void record_noop(npc_group_state& s, const std::vector<std::string>& members, std::string_view location,
                 std::string_view action);

// 64-bit FNV-1a, for block hashes (defined in common/).
using common::fnv1a;

}  // namespace orch::policies
