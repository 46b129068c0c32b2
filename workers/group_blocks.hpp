#pragma once
// The texts of an NPC's two memory blocks (DESIGN 5.2) and how a write merges with what the
// NPC's agent may have changed itself.
//
// `group_members` is JSON:
//   {"members": {name: {"name","appearance","last_seen","notes"}}, "summary": "Current members:
//    A, B", "updates": ["A, B joined the group", ...], "last_updated": iso8601}
// with the newest 10 updates, newest first, and the whole text under `limit` characters
// (oldest updates go first, then appearances, then members past the limit). `status` is
// "health: 100 | location: Cafe | current_action: Idle" (policies/entity_state.hpp).
//
// Merge: the sync reads the block before writing. Each member's `notes` and every top-level
// key the daemon does not own are carried over from the current text; notes about members who
// left go under "notes_on_former_members"; a current text that is not a JSON object is kept
// under "npc_notes". A current text whose hash differs from what the daemon last wrote is an
// NPC edit (counted as a merge); an edit of daemon-owned fields, or text that is not JSON, is
// also a conflict (the daemon's fields win, the NPC's text is kept as above).
//
// Pure functions over values; safe from any thread. They do not throw on bad input.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace orch::workers {

inline constexpr std::size_t group_block_limit = 5000;
inline constexpr std::size_t group_block_max_updates = 10;

struct block_member {
  std::string name;        // display name
  std::string appearance;  // snapshot `appearance`, else registry description, else ""
  std::string last_seen;   // iso8601 (a timestamp: not part of the content hash)
};

struct group_block {
  std::vector<block_member> members;  // every other entity of the NPC's cluster, by name
  std::vector<std::string> updates;   // newest first, at most group_block_max_updates
  std::string last_updated;           // iso8601 (a timestamp: not part of the content hash)
};

// "1970-01-01T00:00:00Z" for epoch seconds.
std::string iso8601(std::int64_t epoch_s);

// "A, B joined the group" / "C left the group" lines for one change (empty sides give none).
// Joins come first, so after push_updates the departures are the newer lines.
std::vector<std::string> membership_update_lines(const std::vector<std::string>& joined,
                                                 const std::vector<std::string>& left);
// Puts `lines` in front (newest first: the last line becomes the newest) and keeps the newest
// group_block_max_updates.
void push_updates(std::vector<std::string>& updates, const std::vector<std::string>& lines);

// A block's update lines, newest first, at most group_block_max_updates, in one buffer: what a
// game's group cache keeps per NPC and shares with its sync requests. It is replaced, never
// changed, when lines come in (the requests holding the old one keep it), so that copy is made
// once per membership change: one allocation for the text, not one per line.
class update_lines {
 public:
  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  std::string_view operator[](std::size_t i) const {
    const std::uint32_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(text_).substr(begin, ends_[i] - begin);
  }
  // These lines with `lines` put in front as push_updates puts them (the last of `lines`
  // becomes the newest), the oldest beyond group_block_max_updates dropped.
  update_lines pushed(const std::vector<std::string>& lines) const;
  std::vector<std::string> to_vector() const;
  // group_updates_hash of to_vector(), without making it.
  std::uint64_t hash() const;

 private:
  std::string text_;                                           // the lines, newest first, back to back
  std::array<std::uint32_t, group_block_max_updates> ends_{};  // where line i ends in text_
  std::uint32_t count_ = 0;
};

// Hash of the block's content, timestamps (last_seen, last_updated) aside. Compared in-process
// only (never persisted). It is group_block_hash(b.members, group_updates_hash(b.updates)), so
// a caller can keep the updates' hash and recompute it only when the updates change.
std::uint64_t group_block_hash(const group_block& b);
std::uint64_t group_updates_hash(const std::vector<std::string>& updates);
std::uint64_t group_block_hash(const std::vector<block_member>& members, std::uint64_t updates_hash);

// The text the daemon writes when the block holds nothing of the NPC's.
std::string render_group_members(const group_block& b, std::size_t limit = group_block_limit);

struct merge_outcome {
  std::string text;              // what to write
  std::uint64_t text_hash = 0;   // hash of `text` (remember it as "last written")
  std::uint64_t owned_hash = 0;  // hash of the daemon-owned part of `text`
  bool npc_edited = false;       // current text differed from the daemon's last write
  bool conflict = false;         // ... and daemon-owned fields (or the JSON shape) were edited
};

// `current`: the block as read now ("" when empty or absent). `last_text_hash`/
// `last_owned_hash`: from the previous merge_outcome written for this agent (0 = unknown).
merge_outcome merge_group_members(const group_block& b, std::string_view current, std::uint64_t last_text_hash,
                                  std::uint64_t last_owned_hash, std::size_t limit = group_block_limit);

// Status: the fresh line first; lines of the current text that are not a daemon status line
// (the NPC's own) are kept after it.
merge_outcome merge_status(std::string_view fresh, std::string_view current, std::uint64_t last_text_hash);

std::uint64_t text_hash(std::string_view s);

}  // namespace orch::workers
