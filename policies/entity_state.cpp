#include "policies/entity_state.hpp"

#include <charconv>
#include <cmath>

namespace orch::policies {

std::string_view to_string(entity_action a) {
  switch (a) {
    case entity_action::dead:
      return "Dead";
    case entity_action::severely_injured:
      return "Severely injured";
    case entity_action::injured:
      return "Injured";
    case entity_action::moving:
      return "Moving";
    case entity_action::idle:
      return "Idle";
  }
  return "Idle";
}

entity_action action_from_health(const health_values& h, bool moved) {
  if (h.state && *h.state == "Dead") return entity_action::dead;
  if (h.current) {
    if (*h.current <= 0) return entity_action::dead;
    const double max = h.max && *h.max > 0 ? *h.max : 100.0;
    const double frac = *h.current / max;
    if (frac < 0.3) return entity_action::severely_injured;
    if (frac < 0.7) return entity_action::injured;
  }
  if (h.is_moving) return *h.is_moving ? entity_action::moving : entity_action::idle;
  if (h.velocity) return *h.velocity > 0.1 ? entity_action::moving : entity_action::idle;
  return moved ? entity_action::moving : entity_action::idle;
}

bool moved_beyond(double dx, double dy, double dz, double threshold) {
  return dx * dx + dy * dy + dz * dz >= threshold * threshold;
}

entity_kind classify(bool in_registry, std::optional<std::string_view> kind) {
  if (in_registry) return entity_kind::npc;
  if (kind && *kind == "npc") return entity_kind::npc;
  return entity_kind::player;
}

std::string status_text(std::optional<double> health_current, std::string_view location, entity_action action) {
  std::string out;
  status_text_into(out, health_current, location, action);
  return out;
}

void status_text_into(std::string& out, std::optional<double> health_current, std::string_view location,
                      entity_action action) {
  out.assign("health: ");
  if (health_current && std::isfinite(*health_current)) {
    char digits[24];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, std::llround(*health_current));
    out.append(digits, ec == std::errc() ? end : digits);
  } else {
    out += "unknown";
  }
  out += " | location: ";
  out += location.empty() ? std::string_view("Unknown") : location;
  out += " | current_action: ";
  out += to_string(action);
}

}  // namespace orch::policies
