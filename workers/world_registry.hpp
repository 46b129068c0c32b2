#pragma once
// The world registry (etc/world.yaml): the NPCs the daemon knows and the named locations.
// Loaded once at boot by daemon/config_loader; immutable afterwards and shared read-only.
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/point3.hpp"

namespace orch::workers {

struct npc_info {
  std::string id;            // e.g. "npc-pete"
  std::string display_name;  // e.g. "Pete": the name used in snapshots and events
  std::string description;   // appearance shown to other NPCs
  std::string agent_id;      // Letta agent ("agent-<uuid4>"); empty = no Letta calls
};

struct location_info {
  std::string slug;
  std::string name;
  common::point3 coordinates;
  std::string description;
};

class world_registry {
 public:
  world_registry() = default;
  world_registry(std::vector<npc_info> npcs, std::vector<location_info> locations);

  const std::vector<npc_info>& npcs() const { return npcs_; }
  const std::vector<location_info>& locations() const { return locations_; }
  // By registry id or by display name.
  const npc_info* find_npc(std::string_view id_or_name) const;
  // The location nearest to p, or nullptr when there are no locations.
  const location_info* nearest_location(const common::point3& p) const;

 private:
  std::vector<npc_info> npcs_;
  std::vector<location_info> locations_;
  std::unordered_map<std::string, std::size_t> by_key_;  // id and display name -> index
};

}  // namespace orch::workers
