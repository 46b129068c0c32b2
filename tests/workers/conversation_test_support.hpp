#pragma once
// Fakes shared by the conversation tests: a world_views holding hand-made views.
#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "workers/world_view.hpp"

namespace orch::workers::testing {

class fake_views final : public world_views {
 public:
  std::shared_ptr<const world_view> view(const std::string& game_id) const override {
    std::lock_guard lk(mu_);
    auto it = views_.find(game_id);
    return it == views_.end() ? nullptr : it->second;
  }
  std::string game_of_npc(const std::string& npc) const override {
    std::lock_guard lk(mu_);
    for (const auto& [g, v] : views_)
      for (const auto& [n, e] : v->entities)
        if (e.is_npc && (n == npc || e.id == npc)) return g;
    return "";
  }
  void set(std::shared_ptr<const world_view> v) {
    std::lock_guard lk(mu_);
    views_[v->game_id] = std::move(v);
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const world_view>> views_;
};

// Builds a view of game `g`: each entity is (name, is_npc, x, cluster); NPCs get
// id "npc-<name>" and agent "agent-<name>" unless `no_agent` lists them.
struct ent {
  std::string name;
  bool npc = false;
  double x = 0;
  std::string cluster;
  bool agent = true;
};

inline std::shared_ptr<const world_view> make_view(const std::string& g, const std::vector<ent>& ents,
                                                   const std::string& location = "Cafe") {
  auto v = std::make_shared<world_view>();
  v->game_id = g;
  // The agent ids live in a registry the view holds, as a game_state's views do.
  std::vector<npc_info> agents;
  for (const auto& e : ents)
    if (e.npc && e.agent) agents.push_back({"npc-" + e.name, e.name, "", "agent-" + e.name});
  v->registry = std::make_shared<world_registry>(std::move(agents), std::vector<location_info>{});
  for (const auto& e : ents) {
    entity_view ev;
    ev.name = e.name;
    ev.is_npc = e.npc;
    if (e.npc) ev.id = "npc-" + e.name;
    if (e.npc && e.agent) ev.agent_id = v->registry->find_npc(e.name)->agent_id;
    ev.position = vec3{e.x, 0, 0};
    ev.location = location;
    ev.action = "Idle";
    ev.cluster_id = e.cluster;
    v->entities[e.name] = ev;
    if (!e.cluster.empty()) {
      auto& c = v->clusters[e.cluster];
      c.id = e.cluster;
      c.members.push_back(e.name);
    }
  }
  for (auto& [id, c] : v->clusters) std::sort(c.members.begin(), c.members.end());
  return v;
}

}  // namespace orch::workers::testing
