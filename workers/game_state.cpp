#include "workers/game_state.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <numeric>

namespace orch::workers {

namespace {

// The same position, or both none (what clustering reads of an entity).
bool same_place(const std::optional<vec3>& a, const std::optional<vec3>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->x == b->x && a->y == b->y && a->z == b->z);
}

using policies::entity_action;

std::vector<std::string> minus(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

}  // namespace

queues::cluster_update make_cluster_update(const cluster_change& c, const world_view& view) {
  queues::cluster_update u;
  u.cluster_id = c.cluster_id;
  u.members = c.members;
  u.positions.reserve(c.members.size());
  for (const auto& m : c.members) {
    auto it = view.entities.find(m);
    if (it == view.entities.end() || !it->second.position) continue;
    const auto& p = *it->second.position;
    u.positions.push_back({m, {p.x, p.y, p.z}});
  }
  u.joined = c.joined;
  u.left = c.left;
  return u;
}

group_block members_block_of(const sync_request& r) {
  group_block b;
  if (r.cluster) {
    b.members.reserve(r.cluster->size());
    for (const auto& m : *r.cluster)
      if (m.name != r.npc_name) b.members.push_back({m.name, m.appearance, iso8601(m.last_seen_s)});
  }
  if (r.updates) b.updates = r.updates->to_vector();
  b.last_updated = iso8601(r.last_updated_s);
  return b;
}

std::vector<std::string> member_names_of(const sync_request& r) {
  std::vector<std::string> out;
  if (!r.cluster) return out;
  out.reserve(r.cluster->size());
  for (const auto& m : *r.cluster)
    if (m.name != r.npc_name) out.push_back(m.name);
  return out;
}

void game_state::recycle(std::shared_ptr<const sync_request> req) {
  // Only this game's own: with one sync key per agent (letta.conversations: agent) another
  // game's request may be handed back, and that game's thread may still have read it last.
  if (!req || req->game_id != game_id_) return;
  // use_count() is exact here: a request out of the mailbox is reachable from `req` alone unless
  // someone holds another reference, and no copy can be made from nothing (no weak_ptrs exist).
  if (req.use_count() != 1 || spare_requests_.size() >= spare_request_cap) return;
  // Made by decide_syncs (std::make_shared<sync_request>, not const): writable once it is ours.
  auto spare = std::const_pointer_cast<sync_request>(std::move(req));
  spare->cluster.reset();
  spare->updates.reset();
  spare_requests_.push_back(std::move(spare));
}

game_state::game_state(std::string game_id, const world_options& opts, std::shared_ptr<const world_registry> reg,
                       std::shared_ptr<clusterer_pool> clusterers)
    : game_id_(std::move(game_id)),
      opts_(opts),
      group_opts_{opts.stale_after, opts.force_refresh},
      reg_(reg ? std::move(reg) : std::make_shared<world_registry>()),
      clusterers_(clusterers ? std::move(clusterers) : std::make_shared<clusterer_pool>()) {}

const policies::npc_group_state* game_state::group_state_of(const std::string& agent_id) const {
  auto it = npcs_.find(agent_id);
  return it == npcs_.end() ? nullptr : &it->second.st;
}

bool game_state::mark_sync_failed(const std::string& agent_id) {
  auto it = npcs_.find(agent_id);
  if (it == npcs_.end()) return false;
  it->second.st.sync_failed = true;
  return true;
}

std::uint32_t game_state::allocate(const std::string& name) {
  std::uint32_t id;
  if (free_.empty()) {
    id = static_cast<std::uint32_t>(table_.size());
    table_.emplace_back();
  } else {
    id = free_.back();
    free_.pop_back();
  }
  tracked& t = table_[id];
  t.name.assign(name);
  t.live = true;
  t.view_entry = nullptr;  // no view lists it yet
  t.cache = nullptr;       // another entity's slot before: its decisions are not this one's
  t.npc_known = false;     // nor its registry entry
  t.player = nullptr;      // nor its player entry
  t.successor = no_slot;
  ++live_;
  order_dirty_ = true;
  return id;
}

game_state::player_entry& game_state::player_of(tracked& t, const std::string& key) {
  if (!t.player || t.player_evictions != players_evictions_ || t.player->first != key) {
    t.player = &*players_.try_emplace(key).first;
    t.player_evictions = players_evictions_;
  }
  return t.player->second;
}

void game_state::track_entities(const snapshot& s, policies::time_point now, apply_stats& stats) {
  const std::uint64_t gen = ++gen_;
  layout_changed_ = false;
  auto classify = [&](tracked& t, const std::string& name, const std::optional<std::string>& id,
                      const std::optional<std::string>& kind) {
    // The registry by name, else by id: looked up again only when the id differs from last time.
    if (!t.npc_known || t.npc_by_id != id.has_value() || (id && t.npc_id != *id)) {
      t.npc = reg_->find_npc(name);
      if (!t.npc && id) t.npc = reg_->find_npc(*id);
      t.npc_known = true;
      t.npc_by_id = id.has_value();
      if (id)
        t.npc_id.assign(*id);
      else
        t.npc_id.clear();
    }
    const npc_info* npc = t.npc;
    if (id)
      t.id.assign(*id);
    else if (npc)
      t.id.assign(npc->id);
    else
      t.id.clear();
    std::optional<std::string_view> k;
    if (kind) k = *kind;
    t.is_npc = policies::classify(npc != nullptr, k) == policies::entity_kind::npc;
    const std::string_view agent = npc ? std::string_view(npc->agent_id) : std::string_view();
    if (t.agent_id != agent) {
      t.agent_id = agent;
      t.cache = nullptr;  // another agent: another group cache
    }
    return npc;
  };
  // The slot of `name` for this apply: found or made, with what it was before this apply
  // kept aside (a name listed twice compares with the previous snapshot, not with itself).
  auto touch_id = [&](std::uint32_t id) -> tracked& {
    tracked& t = table_[id];
    if (t.gen != gen) {
      t.existed = true;
      t.prev_position = t.position;
    }
    t.gen = gen;
    return t;
  };
  auto lookup = [&](const std::string& name) -> std::uint32_t {
    auto [it, fresh] = ids_.try_emplace(name, 0U);
    if (!fresh) {
      touch_id(it->second);
      return it->second;
    }
    it->second = allocate(name);
    tracked& t = table_[it->second];
    t.existed = false;
    t.prev_position.reset();
    t.gen = gen;
    return it->second;
  };
  // Whether slot `c` (a hint, maybe no_slot) is the slot in use of `name`.
  auto holds = [&](std::uint32_t c, const std::string& name) {
    return c < table_.size() && table_[c].live && table_[c].name == name;
  };
  next_order_.clear();
  for (std::size_t k = 0; k < s.entities.size(); ++k) {
    const auto& e = s.entities[k];
    // The hints first (a slot in use with this name is this name's slot): the entity the last
    // snapshot listed at this position, else the one it listed after the previous entity.
    auto named = [&](std::uint32_t c) { return holds(c, e.name); };
    std::uint32_t slot = no_slot;
    if (k < last_order_.size() && named(last_order_[k]))
      slot = last_order_[k];
    else if (k > 0 && named(table_[next_order_[k - 1]].successor))
      slot = table_[next_order_[k - 1]].successor;
    if (slot != no_slot) {
      touch_id(slot);
      ++stats.name_hint_hits;
    } else {
      slot = lookup(e.name);
    }
    next_order_.push_back(slot);
    tracked& t = table_[slot];
    const npc_info* npc = classify(t, e.name, e.id, e.kind);
    bool moved = false;
    t.position.reset();
    if (e.position) {
      t.position = e.position;
      if (t.existed && t.prev_position) {
        const auto& o = *t.prev_position;
        if (policies::moved_beyond(e.position->x - o.x, e.position->y - o.y, e.position->z - o.z,
                                   opts_.movement_threshold_studs))
          moved = true;
        else
          t.position = o;  // a move under the threshold is ignored
      }
    }
    policies::health_values h;
    t.health.reset();
    if (e.health) {
      h.current = e.health->current;
      h.max = e.health->max;
      if (e.health->state) h.state = *e.health->state;
      h.is_moving = e.health->is_moving;
      h.velocity = e.health->velocity;
      t.health = e.health->current;
    }
    if (!t.existed || !same_place(t.position, t.prev_position)) layout_changed_ = true;
    t.action = policies::action_from_health(h, moved);
    const location_info* loc =
        t.position ? reg_->nearest_location({t.position->x, t.position->y, t.position->z}) : nullptr;
    if (loc)
      t.location.assign(loc->name);
    else if (e.location)
      t.location.assign(*e.location);
    else
      t.location.clear();
    t.last_seen_s = e.last_seen ? static_cast<std::int64_t>(*e.last_seen) : s.timestamp;
    if (!t.is_npc) {
      auto& p = player_of(t, t.id.empty() ? e.name : t.id);
      p.name.assign(e.name);
      p.last_seen = now;
      if (e.appearance) p.appearance.assign(*e.appearance);
      t.appearance.assign(p.appearance);
    } else if (e.appearance) {
      t.appearance.assign(*e.appearance);
    } else if (npc) {
      t.appearance.assign(npc->description);
    } else {
      t.appearance.clear();
    }
  }
  // Names the game's own clusters list but humanContext lacks: present, without a position.
  // A steady game lists them in the same order each time: the last snapshot's slot at the same
  // position is tried before a lookup by name, as for the humanContext entities.
  last_cluster_slots_.swap(cluster_slots_);
  cluster_slots_.clear();
  last_cluster_sizes_.swap(cluster_sizes_);
  cluster_sizes_.clear();
  for (const auto& gc : s.clusters) cluster_sizes_.push_back(static_cast<std::uint32_t>(gc.members.size()));
  for (const auto& gc : s.clusters)
    for (const auto& name : gc.members) {
      const std::size_t k = cluster_slots_.size();
      if (k < last_cluster_slots_.size()) {
        const std::uint32_t hint = last_cluster_slots_[k];
        if (holds(hint, name) && table_[hint].gen == gen) {
          cluster_slots_.push_back(hint);
          continue;
        }
      }
      if (auto it = ids_.find(name); it != ids_.end() && table_[it->second].gen == gen) {
        cluster_slots_.push_back(it->second);
        continue;
      }
      const std::uint32_t slot = lookup(name);
      cluster_slots_.push_back(slot);
      tracked& t = table_[slot];
      if (!t.existed || t.prev_position) layout_changed_ = true;  // placed by the game's cluster now
      const npc_info* npc = classify(t, name, std::nullopt, std::nullopt);
      t.position.reset();
      t.health.reset();
      t.location.clear();
      t.action = policies::entity_action::idle;
      if (npc)
        t.appearance.assign(npc->description);
      else
        t.appearance.clear();
      t.last_seen_s = s.timestamp;
      if (!t.is_npc) {
        auto& p = player_of(t, name);
        p.name.assign(name);
        p.last_seen = now;
        t.appearance.assign(p.appearance);
      }
    }
  // Whoever this snapshot did not mention is gone: its name leaves ids_, its slot goes to free_.
  for (std::uint32_t id = 0; id < table_.size(); ++id) {
    tracked& t = table_[id];
    if (!t.live || t.gen == gen) continue;
    ids_.erase(t.name);
    t.live = false;
    t.view_entry = nullptr;
    t.cache = nullptr;
    free_.push_back(id);
    --live_;
    order_dirty_ = true;
  }
  // One slot per entity of every game: a table this apply grew (emplace_back doubles) keeps no
  // room beyond its slots. A game reaches its size once and then reuses freed slots.
  if (table_.capacity() > table_.size()) table_.shrink_to_fit();
  // Clustering reads the positions (checked above), who is present (order_dirty_: someone came
  // or left) and the game's clusters (for entities without a position).
  if (order_dirty_ || cluster_slots_ != last_cluster_slots_ || cluster_sizes_ != last_cluster_sizes_)
    layout_changed_ = true;
  for (std::size_t k = 0; k < next_order_.size(); ++k)
    table_[next_order_[k]].successor = k + 1 < next_order_.size() ? next_order_[k + 1] : no_slot;
  last_order_.swap(next_order_);
  for (auto it = players_.begin(); it != players_.end();) {
    if (now - it->second.last_seen > opts_.player_cache_ttl) {
      it = players_.erase(it);
      ++players_evictions_;  // the slots' cached entries are looked up again
      ++stats.players_evicted;
    } else {
      ++it;
    }
  }
}

std::vector<std::vector<std::uint32_t>> game_state::cluster_entities(const snapshot& s, apply_stats& stats) {
  // Rank entities by name so the result never depends on input order (sorted again only when
  // an entity came or left: the names of the slots in use are unchanged otherwise).
  if (order_dirty_) {
    order_.clear();
    for (std::uint32_t id = 0; id < table_.size(); ++id)
      if (table_[id].live) order_.push_back(id);
    std::sort(order_.begin(), order_.end(),
              [this](std::uint32_t a, std::uint32_t b) { return table_[a].name < table_[b].name; });
    order_dirty_ = false;
  }
  const auto n = static_cast<std::uint32_t>(order_.size());
  pts_.clear();
  pt_entity_.clear();
  for (std::uint32_t i = 0; i < n; ++i) {
    tracked& t = table_[order_[i]];
    t.index = i;
    if (!t.position) continue;
    pts_.push_back({t.position->x, t.position->y, t.position->z});
    pt_entity_.push_back(i);
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto clusterer = clusterers_->take();
  clusterer->run(pts_, opts_.cluster_radius_studs, cluster_scratch_);
  clusterers_->put(std::move(clusterer));
  stats.clustering_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Union-find over name ranks (common/union_find: the root of a set is its smallest rank).
  groups_.reset(n);
  auto find = [&](std::uint32_t i) { return groups_.find(i); };
  auto unite = [&](std::uint32_t a, std::uint32_t b) { groups_.unite(a, b); };
  for (std::size_t k = 0; k < cluster_scratch_.size(); ++k) {
    auto c = cluster_scratch_.cluster(k);
    for (std::size_t j = 1; j < c.size(); ++j) unite(pt_entity_[c[0]], pt_entity_[c[j]]);
  }
  // Entities without a position keep the game's cluster: they join every member of it (every
  // member has a slot, found by track_entities: cluster_slots_ in the same order).
  std::size_t next_member = 0;
  for (const auto& gc : s.clusters) {
    const std::span<const std::uint32_t> slots(cluster_slots_.data() + next_member, gc.members.size());
    next_member += gc.members.size();
    if (std::all_of(slots.begin(), slots.end(), [&](std::uint32_t id) { return table_[id].position.has_value(); }))
      continue;
    for (std::size_t j = 1; j < slots.size(); ++j) unite(table_[slots[0]].index, table_[slots[j]].index);
  }
  group_size_.assign(n, 0);
  for (std::uint32_t i = 0; i < n; ++i) ++group_size_[find(i)];
  constexpr std::uint32_t none = 0xffffffffU;
  group_slot_.assign(n, none);
  std::vector<std::vector<std::uint32_t>> out;
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto r = find(i);
    if (group_size_[r] < 2) continue;
    if (group_slot_[r] == none) {  // r == i: the smallest rank opens its group (sorted order)
      group_slot_[r] = static_cast<std::uint32_t>(out.size());
      auto& g = out.emplace_back();
      if (!spare_groups_.empty()) {  // an older cluster's member list, emptied (see apply)
        g = std::move(spare_groups_.back());
        spare_groups_.pop_back();
        g.clear();
        // Room kept for a crowd that has since dispersed goes (no list keeps its largest size).
        if (g.capacity() > policies::kept_list_room(group_size_[r])) g.shrink_to_fit();
      }
      g.reserve(group_size_[r]);
    }
    out[group_slot_[r]].push_back(order_[i]);
  }
  for (auto& g : out) std::sort(g.begin(), g.end());  // by slot, as assign_cluster_ids compares them
  return out;
}

std::vector<std::string> game_state::names_of(const std::vector<std::uint32_t>& slots) {
  std::vector<std::string> out;
  out.reserve(slots.size());
  // Slots in use are ranked by name (cluster_entities): sorted as numbers, then named. A slot
  // whose entity left (in `left`) has no rank any more: then the names are sorted.
  if (std::all_of(slots.begin(), slots.end(), [this](std::uint32_t id) { return table_[id].live; })) {
    rank_scratch_.assign(slots.begin(), slots.end());
    std::sort(rank_scratch_.begin(), rank_scratch_.end(),
              [this](std::uint32_t a, std::uint32_t b) { return table_[a].index < table_[b].index; });
    for (auto id : rank_scratch_) out.push_back(table_[id].name);
    return out;
  }
  for (auto id : slots) out.push_back(table_[id].name);
  std::sort(out.begin(), out.end());
  return out;
}

void game_state::mark_touched(const slot_assignment& ids) {
  // A member of a changed cluster (after) or one who left it: its members differ from the last
  // apply's. Whoever no change names kept its cluster with the same members, or stayed in none.
  // (A slot that left is marked too: harmless, it is decided anew when reused.)
  for (const auto& ch : ids.changes) {
    for (auto id : ch.members) table_[id].members_touched = gen_;
    for (auto id : ch.left) table_[id].members_touched = gen_;
  }
}

bool game_state::unchanged_since_decision(std::uint32_t id, policies::time_point now) const {
  const tracked& t = table_[id];
  const npc_cache* c = t.cache;
  if (!c || c->decided_slot != id || c->decided_gen + 1 != gen_ || t.members_touched == gen_) return false;
  // Its members are those the cache holds from that decision: the policy is asked with them.
  return policies::decide_group_update(c->st, c->st.members, t.location, policies::to_string(t.action), now,
                                       group_opts_) == policies::update_reason::none;
}

void game_state::decide_syncs(const snapshot& s, policies::time_point now, apply_result& r) {
  const std::vector<std::string> none;
  std::vector<std::string>& members = members_;
  shared_members_.clear();
  // The member list every request of this apply in cluster k shares (built on the first).
  auto shared_members = [this](std::uint32_t k) {
    for (const auto& [c, list] : shared_members_)
      if (c == k) return list;
    auto list = std::make_shared<std::vector<sync_member>>();
    const auto by_name = members_by_name(k);
    list->reserve(by_name.size());
    for (auto id : by_name) {
      const tracked& e = table_[id];
      list->push_back({e.name, e.appearance, e.last_seen_s});
    }
    shared_members_.emplace_back(k, list);
    return std::shared_ptr<const std::vector<sync_member>>(std::move(list));
  };
  for (std::uint32_t id = 0; id < table_.size(); ++id) {
    tracked& t = table_[id];
    if (!t.live || !t.is_npc || t.agent_id.empty()) continue;
    const std::string& name = t.name;
    r.stats.naive_writes += 2;
    // The walking snapshot's common case: nothing decide_group_update reads has changed.
    if (unchanged_since_decision(id, now)) {
      ++r.stats.cache_hits;
      ++r.stats.quick_cache_hits;
      t.cache->decided_gen = gen_;
      continue;
    }
    index_clusters(clusters_);
    const std::uint32_t k = cluster_of_[id];
    const auto in_cluster = k == no_slot ? std::span<const std::uint32_t>() : members_by_name(k);
    members.clear();
    for (auto m : in_cluster)
      if (m != id) members.push_back(table_[m].name);
    const auto action = policies::to_string(t.action);
    if (!t.cache) t.cache = &npcs_[t.agent_id];
    auto& c = *t.cache;
    c.decided_gen = gen_;
    c.decided_slot = id;
    const auto reason = policies::decide_group_update(c.st, members, t.location, action, now, group_opts_);
    if (reason == policies::update_reason::none) {
      ++r.stats.cache_hits;
      continue;
    }
    // Membership history: every change becomes an update line, whatever the reason.
    const auto& before = c.st.known ? c.st.members : none;
    if (before != members) {
      c.updates = std::make_shared<const update_lines>(
          c.updates->pushed(membership_update_lines(minus(members, before), minus(before, members))));
      c.updates_hash = c.updates->hash();
    }

    // The block's content hash first, in reused scratch: a sync request is built only when a
    // block must be written (the hash leaves the timestamps out, so they come later).
    auto& block = block_scratch_;
    block.members.resize(members.size());
    std::size_t i = 0;
    for (auto m : in_cluster) {
      if (m == id) continue;
      block.members[i].name.assign(table_[m].name);
      block.members[i].appearance.assign(table_[m].appearance);
      ++i;
    }
    auto& status = status_scratch_;  // reused: a request copies it only when a block is written
    policies::status_text_into(status, t.health, t.location, t.action);
    const auto mh = group_block_hash(block.members, c.updates_hash);
    const auto sh = text_hash(status);
    if (!policies::block_needs_write(reason, c.st.members_hash, mh) &&
        !policies::block_needs_write(reason, c.st.status_hash, sh)) {
      policies::record_noop(c.st, members, t.location, action);
      ++r.stats.skipped_noops;
      continue;
    }
    // A recycled request keeps its string buffers; every field is written here.
    std::shared_ptr<sync_request> req;
    if (spare_requests_.empty()) {
      req = std::make_shared<sync_request>();
    } else {
      req = std::move(spare_requests_.back());
      spare_requests_.pop_back();
      ++r.stats.requests_recycled;
    }
    req->game_id.assign(game_id_);
    req->npc_name.assign(name);
    req->agent_id.assign(t.agent_id);
    if (k != no_slot)
      req->cluster = shared_members(k);
    else
      req->cluster.reset();
    req->updates = c.updates;
    req->last_updated_s = s.timestamp;
    req->status.assign(status);  // a recycled request's buffer takes it
    req->reason = reason;
    req->force = reason != policies::update_reason::changed;
    policies::record_write(c.st, reason, members, t.location, action, mh, sh, now);
    ++r.stats.updates[static_cast<std::size_t>(reason)];
    r.syncs.push_back(std::move(req));
  }
  std::sort(r.syncs.begin(), r.syncs.end(), [](const auto& a, const auto& b) { return a->npc_name < b->npc_name; });
}

apply_result game_state::apply(const snapshot& s, policies::time_point now) {
  apply_result r;
  r.diff.game_id = game_id_;
  if (s.seq && last_seq_ && *s.seq <= *last_seq_) {
    r.stale = true;
    r.clusters = clusters_.size();
    return r;
  }
  if (s.seq) last_seq_ = s.seq;
  ++applied_;
  track_entities(s, now, r.stats);
  // Nobody moved, came or left, and the game's clusters are the same: clustering would find the
  // clusters it found last time, which keep their ids with no change.
  slot_assignment ids;
  if (layout_changed_) {
    // The clusters of the apply before last are done with: their member lists become the new
    // groups' (cluster_entities), instead of being freed as new ones are allocated.
    spare_groups_.clear();
    for (auto& c : id_scratch_.clusters) spare_groups_.push_back(std::move(c.members));
    ids = policies::assign_cluster_ids<std::uint32_t>(clusters_, cluster_entities(s, r.stats), next_cluster_id_,
                                                      id_scratch_);
    r.stats.clustered = true;
  } else {
    ids.clusters.swap(clusters_);
  }
  mark_touched(ids);
  r.diff.view = make_view(ids, r.stats);
  r.diff.changes.reserve(ids.changes.size());
  r.events.reserve(ids.changes.size());
  for (auto& ch : ids.changes) {
    r.stats.joins += ch.joined.size();
    r.stats.leaves += ch.left.size();
    // Names where names are needed (a slot that left keeps its name until reused).
    r.diff.changes.push_back({std::move(ch.id), names_of(ch.members), names_of(ch.joined), names_of(ch.left)});
    r.events.emplace_back(make_cluster_update(r.diff.changes.back(), *r.diff.view));
  }
  if (r.stats.clustered) {                        // else `ids` holds no room of the scratch's: it keeps its own
    id_scratch_.clusters = std::move(clusters_);  // their room serves the next assignment
    id_scratch_.changes = std::move(ids.changes);
  }
  clusters_ = std::move(ids.clusters);
  r.clusters = clusters_.size();
  decide_syncs(s, now, r);
  return r;
}

}  // namespace orch::workers
