// game_state's views (DESIGN 5.1): whether a snapshot changed what readers see, and the new
// view filled in place of one no reader holds any more.
#include <algorithm>
#include <mutex>

#include "workers/game_state.hpp"

namespace orch::workers {

// What readers see (world_view) and, hidden from them, each slot's entry as this view's last fill
// left it: a view filled again finds its entities without a lookup by name. An entry is kept for
// the slot that filled it; one whose entity left the world is erased with its pointers cleared.
struct game_state::filled_view : world_view {
  std::vector<entity_view*> by_slot;  // null: not filled for that slot (or cleared)
};

// A published view comes back here when its last holder drops it (any thread; the mutex orders
// that holder's reads before the next fill). At most `keep` are kept, the rest are deleted.
class game_state::view_pool {
 public:
  static constexpr std::size_t keep = 2;
  void put(filled_view* v) {
    std::unique_ptr<filled_view> owned(v);  // deleted after the unlock when not kept
    std::lock_guard lk(mu_);
    if (spare_.size() < keep) spare_.push_back(std::move(owned));
  }
  std::unique_ptr<filled_view> take() {
    std::lock_guard lk(mu_);
    if (spare_.empty()) return nullptr;
    auto v = std::move(spare_.back());
    spare_.pop_back();
    return v;
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<filled_view>> spare_;
};

// Whether the view `make_view` would build differs from the last published one: compared in
// place, so a snapshot that changes nothing readers see publishes the same view again. The
// clusters are unchanged exactly when the id assignment reports no change (the view always
// shows the previous assignment); each entity is compared with its own entry of the view.
bool game_state::view_changed(const slot_assignment& ids) const {
  if (!view_ || !ids.changes.empty() || view_->entities.size() != live_) return true;
  for (const tracked& t : table_) {
    if (!t.live) continue;
    const entity_view* e = t.view_entry;
    if (!e) return true;  // new since the view was built
    if (e->id != t.id || e->is_npc != t.is_npc || e->agent_id != t.agent_id || e->location != t.location ||
        e->action != policies::to_string(t.action) || e->position.has_value() != t.position.has_value())
      return true;
    if (t.position &&
        (e->position->x != t.position->x || e->position->y != t.position->y || e->position->z != t.position->z))
      return true;
  }
  return false;
}

void game_state::fill_view(filled_view& v, const slot_assignment& ids) {
  v.game_id = game_id_;
  v.registry = reg_;
  v.snapshots_applied = applied_;
  v.entities.reserve(live_);
  v.by_slot.resize(table_.size(), nullptr);
  index_clusters(ids.clusters);
  for (std::uint32_t id = 0; id < table_.size(); ++id) {
    tracked& t = table_[id];
    if (!t.live) continue;
    // This slot's entry from the view's last fill, unless the slot has another entity since.
    entity_view* entry = v.by_slot[id];
    if (!entry || entry->name != t.name) {
      auto [it, fresh] = v.entities.try_emplace(t.name);
      if (fresh) it->second.name = t.name;
      entry = &it->second;
      v.by_slot[id] = entry;
    }
    entity_view& e = *entry;
    e.id.assign(t.id);
    e.is_npc = t.is_npc;
    e.agent_id = t.agent_id;
    e.position = t.position;
    e.location.assign(t.location);
    e.action = policies::to_string(t.action);
    if (cluster_of_[id] == no_slot)
      e.cluster_id.clear();
    else
      e.cluster_id.assign(ids.clusters[cluster_of_[id]].id);
    t.view_entry = &e;
  }
  // Every entity is in `v` now; more entries than entities means some left the world.
  if (v.entities.size() != live_) {
    std::erase_if(v.entities, [&](const auto& kv) { return ids_.find(kv.first) == ids_.end(); });
    // Every slot in use points at its own entity's entry now; the others may point at erased ones.
    for (std::uint32_t id = 0; id < table_.size(); ++id)
      if (!table_[id].live) v.by_slot[id] = nullptr;
  }
  if (!v.clusters.empty())
    std::erase_if(v.clusters, [&](const auto& kv) {
      return std::none_of(ids.clusters.begin(), ids.clusters.end(),
                          [&](const slot_cluster& c) { return c.id == kv.first; });
    });
  for (std::uint32_t k = 0; k < ids.clusters.size(); ++k) {
    const auto& c = ids.clusters[k];
    auto& cv = v.clusters[c.id];
    cv.id.assign(c.id);
    const auto by_name = members_by_name(k);
    cv.members.resize(by_name.size());
    for (std::size_t i = 0; i < by_name.size(); ++i) cv.members[i].assign(table_[by_name[i]].name);
  }
}

void game_state::index_clusters(const std::vector<slot_cluster>& cl) {
  if (indexed_gen_ == gen_) return;
  indexed_gen_ = gen_;
  cluster_of_.assign(table_.size(), no_slot);
  by_name_.clear();
  by_name_start_.assign(1, 0);
  for (std::uint32_t k = 0; k < cl.size(); ++k) {
    const auto first = by_name_.end() - by_name_.begin();
    for (auto id : cl[k].members) {
      cluster_of_[id] = k;
      by_name_.push_back(id);
    }
    // By name: the ranks of cluster_entities order the names of the slots in use.
    std::sort(by_name_.begin() + first, by_name_.end(),
              [this](std::uint32_t a, std::uint32_t b) { return table_[a].index < table_[b].index; });
    by_name_start_.push_back(static_cast<std::uint32_t>(by_name_.size()));
  }
}

std::shared_ptr<const world_view> game_state::make_view(const slot_assignment& ids, apply_stats& stats) {
  if (!view_changed(ids)) return view_;
  if (!pool_) pool_ = std::make_shared<view_pool>();
  auto v = pool_->take();
  if (v)
    ++stats.views_recycled;
  else
    v = std::make_unique<filled_view>();
  fill_view(*v, ids);
  view_ = std::shared_ptr<world_view>(v.release(), [pool = pool_](filled_view* p) { pool->put(p); });
  return view_;
}

}  // namespace orch::workers
