#pragma once
// A read-only picture of one game's world after a snapshot was applied, published by the
// snapshot worker for readers on other threads (conversation worker, /chat/v3 game lookup).
// Immutable once published: readers hold a shared_ptr<const world_view> and never lock. A
// snapshot that changes nothing a reader sees (ids, kinds, positions kept, locations, actions,
// clusters) publishes the previous view again instead of building a new one. Once its last
// holder lets go, a view's storage may be filled again as a later view (game_state's pool):
// keep the shared_ptr, never a raw pointer, for as long as you read it.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "workers/snapshot.hpp"
#include "workers/world_registry.hpp"

namespace orch::workers {

// One per entity and view (a game keeps two views): the texts every entity shares are views of
// strings that outlive it, not copies.
struct entity_view {
  std::string name;  // display name
  std::string id;    // npc id or player id ("" when unknown)
  bool is_npc = false;
  std::string_view agent_id;  // registry agent, in world_view::registry ("" for players and unregistered NPCs)
  std::optional<vec3> position;
  std::string location;     // registry location name ("" when none)
  std::string_view action;  // Dead | Severely injured | Injured | Moving | Idle (policies::to_string's, static)
  std::string cluster_id;   // "" when in no cluster
};

struct cluster_view {
  std::string id;
  std::vector<std::string> members;  // display names, sorted
};

struct world_view {
  std::string game_id;
  std::shared_ptr<const world_registry> registry;          // holds what the entities' agent_id views
  std::uint64_t snapshots_applied = 0;                     // applies counted when this view was built
  std::unordered_map<std::string, entity_view> entities;   // by display name
  std::unordered_map<std::string, cluster_view> clusters;  // by cluster id
};

// Where readers find the latest view of each game. Implemented by the snapshot worker.
class world_views {
 public:
  virtual ~world_views() = default;
  virtual std::shared_ptr<const world_view> view(const std::string& game_id) const = 0;
  // The game in which the NPC (registry id or display name) was last seen, or "".
  virtual std::string game_of_npc(const std::string& npc_id_or_name) const = 0;
};

}  // namespace orch::workers
