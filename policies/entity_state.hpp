#pragma once
// Pure derivations of an entity's state from what a snapshot says (DESIGN 5.1): its action
// from its health and motion, whether a position change is a move worth keeping, its kind,
// and the `status` block text. No I/O, no clock; safe from any thread.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace orch::policies {

enum class entity_action : std::uint8_t { dead, severely_injured, injured, moving, idle };
std::string_view to_string(entity_action a);  // "Dead", "Severely injured", "Injured", "Moving", "Idle"

struct health_values {
  std::optional<double> current;
  std::optional<double> max;
  std::optional<std::string_view> state;  // game's humanoid state, e.g. "Dead", "Running"
  std::optional<bool> is_moving;
  std::optional<double> velocity;
};

// Dead when state is "Dead" or current <= 0; Severely injured below 30 % of max; Injured below
// 70 %; Moving when is_moving (or, without it, velocity > 0.1 studs/s, or, without either,
// `moved` since the last snapshot); else Idle. A missing or non-positive max counts as 100.
entity_action action_from_health(const health_values& h, bool moved);

// True when the squared distance between old and new position reaches the threshold: moves
// under `threshold` studs are ignored.
bool moved_beyond(double dx, double dy, double dz, double threshold);

enum class entity_kind : std::uint8_t { player, npc };
// NPC when the registry knows the name or id; else by the snapshot's `kind`; else player.
entity_kind classify(bool in_registry, std::optional<std::string_view> kind);

// "health: 100 | location: Cafe | current_action: Idle". Health is the current value rounded
// (or "unknown"); an empty location reads "Unknown".
std::string status_text(std::optional<double> health_current, std::string_view location, entity_action action);
// The same text written over `out`, whose buffer is kept (no allocation once it is large enough).
void status_text_into(std::string& out, std::optional<double> health_current, std::string_view location,
                      entity_action action);

}  // namespace orch::policies
