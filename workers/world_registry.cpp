#include "workers/world_registry.hpp"

#include <limits>

namespace orch::workers {

world_registry::world_registry(std::vector<npc_info> npcs, std::vector<location_info> locations)
    : npcs_(std::move(npcs)), locations_(std::move(locations)) {
  for (std::size_t i = 0; i < npcs_.size(); ++i) {
    by_key_.emplace(npcs_[i].id, i);
    by_key_.emplace(npcs_[i].display_name, i);
  }
}

const npc_info* world_registry::find_npc(std::string_view id_or_name) const {
  auto it = by_key_.find(std::string(id_or_name));
  return it == by_key_.end() ? nullptr : &npcs_[it->second];
}

const location_info* world_registry::nearest_location(const common::point3& p) const {
  const location_info* best = nullptr;
  double best_d = std::numeric_limits<double>::infinity();
  for (auto& l : locations_) {
    const double d = common::squared_distance(l.coordinates, p);
    if (d < best_d) {
      best_d = d;
      best = &l;
    }
  }
  return best;
}

}  // namespace orch::workers
