#pragma once
// Entry notices ("[SYSTEM] Diamond has entered your range ...") per NPC (DESIGN 5.3):
// - at most one notice per (NPC, newcomer) per `cooldown` (entry_notice_cooldown_s);
// - several joins fold into one pending notice per NPC: notices never pile up;
// - a newcomer becomes eligible only once the NPC's group_members block lists it
//   (block_synced), so an NPC is never told of someone its memory does not show yet (the
//   seeds' "[SYSTEM] before cluster update" bug).
// Keys are opaque strings chosen by the caller (e.g. "game\x1fnpc").
//
// Ownership: a plain value owned by its user. Thread-safety: none (the owner locks).
// Failure: none. Memory: pending newcomers and last-notice times per NPC; prune() drops
// cooldown entries that ended.
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policies/clock.hpp"

namespace orch::policies {

class notice_folding {
 public:
  explicit notice_folding(duration cooldown) : cooldown_(cooldown) {}
  void set_cooldown(duration cooldown) { cooldown_ = cooldown; }

  struct join_result {
    std::size_t added = 0;    // newly pending newcomers
    std::size_t folded = 0;   // of those, joined into a notice that was already pending
    std::size_t cooling = 0;  // skipped: told of them within the cooldown
  };
  // Newcomers entered the NPC's range. Those already pending or notified within the cooldown
  // are skipped; a newcomer the NPC's last synced block already lists is eligible at once.
  join_result on_joined(const std::string& npc, const std::vector<std::string>& newcomers, time_point now);
  // Entities left the NPC's range: they are no longer announced.
  void on_left(const std::string& npc, const std::vector<std::string>& gone);
  // The NPC's group_members block now lists `members`: pending newcomers among them become
  // eligible. Returns true when the NPC has an eligible notice afterwards.
  bool on_synced(const std::string& npc, const std::vector<std::string>& members, time_point now);

  bool has_eligible(const std::string& npc) const;
  // When the NPC's current notice first became eligible (nullopt when none is).
  std::optional<time_point> eligible_since(const std::string& npc) const;
  // Takes the eligible newcomers, in join order, and starts their cooldowns; newcomers not
  // yet synced stay pending. Empty when nothing is eligible.
  std::vector<std::string> take(const std::string& npc, time_point now);

  // The NPC itself left its group: nothing pending is announced (cooldowns are kept).
  void clear_pending(const std::string& npc);
  void forget(const std::string& npc) { npcs_.erase(npc); }
  void prune(time_point now);
  std::size_t size() const { return npcs_.size(); }

 private:
  struct pending_newcomer {
    std::string name;
    bool synced = false;
  };
  struct npc_state {
    std::vector<pending_newcomer> pending;
    std::optional<time_point> eligible_since;
    std::unordered_map<std::string, time_point> told;  // newcomer -> when last told
    std::vector<std::string> synced_members;           // the block as last synced
  };
  duration cooldown_;
  std::unordered_map<std::string, npc_state> npcs_;
};

// "A", "A and B", "A, B and C".
std::string join_names_prose(const std::vector<std::string>& names);

// The notice text: `[SYSTEM] Diamond and Kaiden have entered your range. You are now in
// speaking range with Diamond, Kaiden and Goldie at Cafe. Please check context memory and
// group block for recent interactions.` (` at <location>` only when known).
std::string format_entry_notice(const std::vector<std::string>& newcomers, const std::vector<std::string>& in_range,
                                std::string_view location);

}  // namespace orch::policies
