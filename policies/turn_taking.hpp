#pragma once
// Turn-taking for group conversations (DESIGN 5.3): who is addressed by a turn, and which
// NPCs answer it.
// - The addressed NPC (by npc id, by `target` as display name or id, or by its display name
//   appearing as a word in the text) answers first; when it is cooling down (or busy) the
//   turn waits for it.
// - At most `max_responders` answer; the others are ranked by who has not spoken lately
//   (never spoken first), then by distance to the speaker, then by name (stable).
// - Non-addressed NPCs that are cooling down or busy are skipped (counted as holds).
// Pure functions: no state, time comes in as `now`.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policies/clock.hpp"

namespace orch::policies {

// Floor priority: a lower value starts first. Player turns outrank NPC chains and notices.
enum class turn_priority : std::uint8_t { player = 0, system = 1, chain = 2, notice = 3 };

struct turn_candidate {
  std::string name;                         // display name
  std::string id;                           // registry npc id ("" when unknown)
  double distance = 0;                      // to the speaker (0 when unknown)
  std::optional<time_point> last_spoke;     // nullopt: has not spoken
  time_point ready_at = time_point::min();  // end of its cooldown
  bool busy = false;                        // already generating or has a reply queued
};

// True when `word` occurs in `text` as a whole word (case-insensitive ASCII; a word boundary
// is anything that is not a letter, digit, '_' or '\'').
bool contains_word(std::string_view text, std::string_view word);

// The addressed candidate: v3 npc id, else `target` (display name or id), else the name that
// appears first in the text as a word. Case-insensitive for names.
std::optional<std::size_t> find_addressed(const std::vector<turn_candidate>& candidates, std::string_view v3_npc_id,
                                          std::string_view target, std::string_view text);

struct chosen_responder {
  std::size_t index = 0;  // into the candidates
  bool addressed = false;
  time_point ready_at = time_point::min();  // when it may start (cooldown end; <= now: at once)
};

struct responder_selection {
  std::vector<chosen_responder> responders;  // in answer order, addressed first
  std::size_t cooldown_holds = 0;            // candidates skipped because cooling or busy
  bool addressed_waits = false;              // the addressed NPC is cooling: the turn waits
};

responder_selection pick_responders(const std::vector<turn_candidate>& candidates, std::optional<std::size_t> addressed,
                                    std::uint32_t max_responders, time_point now);

}  // namespace orch::policies
