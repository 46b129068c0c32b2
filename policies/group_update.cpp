#include "policies/group_update.hpp"

namespace orch::policies {

std::string_view to_string(update_reason r) {
  switch (r) {
    case update_reason::none:
      return "none";
    case update_reason::changed:
      return "changed";
    case update_reason::stale:
      return "stale";
    case update_reason::forced:
      return "forced";
    case update_reason::retry:
      return "retry";
  }
  return "none";
}

update_reason decide_group_update(const npc_group_state& s, const std::vector<std::string>& members,
                                  std::string_view location, std::string_view action, time_point now,
                                  const group_update_options& o) {
  if (!s.known) return update_reason::changed;
  if (s.sync_failed) return update_reason::retry;
  if (now - s.last_forced >= o.force_refresh) return update_reason::forced;
  if (s.members != members || s.location != location || s.action != action) return update_reason::changed;
  if (now - s.last_updated >= o.stale_after) return update_reason::stale;
  return update_reason::none;
}

bool block_needs_write(update_reason reason, std::uint64_t last_hash, std::uint64_t fresh) {
  switch (reason) {
    case update_reason::none:
      return false;
    case update_reason::changed:
      return last_hash != fresh;
    default:
      return true;
  }
}

void record_write(npc_group_state& s, update_reason reason, const std::vector<std::string>& members,
                  std::string_view location, std::string_view action, std::uint64_t members_hash,
                  std::uint64_t status_hash, time_point now) {
  const bool first = !s.known;
  s.known = true;
  s.members = members;
  s.location = std::string(location);
  s.action = std::string(action);
  s.members_hash = members_hash;
  s.status_hash = status_hash;
  s.last_updated = now;
  if (first || reason == update_reason::forced || reason == update_reason::retry) s.last_forced = now;
  s.sync_failed = false;
}

void record_noop(npc_group_state& s, const std::vector<std::string>& members, std::string_view location,
                 std::string_view action) {
  s.members = members;
  s.location = std::string(location);
  s.action = std::string(action);
}

}  // namespace orch::policies
