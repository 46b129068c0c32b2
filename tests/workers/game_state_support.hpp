#pragma once
// What the game_state tests share: a registry of three NPCs (two with agents) and two
// locations, entities placed on the ground, snapshots of game "g1" numbered by seq.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "workers/game_state.hpp"

namespace orch::workers::game_state_support {

inline std::shared_ptr<const world_registry> registry() {
  return std::make_shared<world_registry>(
      std::vector<npc_info>{{"npc-pete", "Pete", "A merchant", "agent-pete"},
                            {"npc-kaiden", "Kaiden", "A guard", "agent-kaiden"},
                            {"npc-goldie", "Goldie", "A fox", ""}},
      std::vector<location_info>{{"cafe", "Cafe", {12.0, 3.0, -40.5}, "A small cafe"},
                                 {"plaza", "Town Plaza", {10.0, 3.0, -10.0}, "The square"}});
}

inline snapshot_entity at(std::string name, double x, double z) {
  snapshot_entity e;
  e.name = std::move(name);
  e.position = vec3{x, 3.0, z};
  e.health = entity_health{100.0, 100.0, std::string("Running"), false, 0.0};
  return e;
}

inline snapshot scene(std::uint64_t seq, std::vector<snapshot_entity> es) {
  snapshot s;
  s.game_id = "g1";
  s.seq = seq;
  s.timestamp = 1737874900 + static_cast<std::int64_t>(seq);
  s.entities = std::move(es);
  return s;
}

inline const cluster_change* change_of(const apply_result& r, const std::string& id) {
  for (const auto& c : r.diff.changes)
    if (c.cluster_id == id) return &c;
  return nullptr;
}

// Where walker i stands at step k (pairs 2 studs apart, 50 studs between pairs, 0.5 a step).
inline double walker_x(int i, double k) { return (i / 2) * 50 + (i % 2) * 2 + k * 0.5; }

inline const sync_request* sync_of(const apply_result& r, const std::string& npc) {
  for (const auto& s : r.syncs)
    if (s->npc_name == npc) return s.get();
  return nullptr;
}

}  // namespace orch::workers::game_state_support
