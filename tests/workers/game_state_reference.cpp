// The pre-rewrite game_state, kept as a test reference (see game_state_reference.hpp).
#include "tests/workers/game_state_reference.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <numeric>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace orch::workers::reference {

namespace {

using policies::entity_action;

void write_names(rapidjson::Writer<rapidjson::StringBuffer>& w, const std::vector<std::string>& names) {
  w.StartArray();
  for (const auto& n : names) w.String(n.data(), static_cast<rapidjson::SizeType>(n.size()));
  w.EndArray();
}

std::vector<std::string> minus(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

struct union_find {
  std::vector<std::size_t> parent;
  explicit union_find(std::size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), std::size_t{0}); }
  std::size_t find(std::size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  }
  void unite(std::size_t a, std::size_t b) {
    a = find(a);
    b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
};

}  // namespace

std::string cluster_update_body(const cluster_change& c, const world_view& view) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  // The hub wants the members without braces: write an object and strip them afterwards.
  w.StartObject();
  w.Key("type");
  w.String("cluster_update");
  w.Key("clusterId");
  w.String(c.cluster_id.data(), static_cast<rapidjson::SizeType>(c.cluster_id.size()));
  w.Key("members");
  write_names(w, c.members);
  w.Key("positions");
  w.StartObject();
  for (const auto& m : c.members) {
    auto it = view.entities.find(m);
    if (it == view.entities.end() || !it->second.position) continue;
    const auto& p = *it->second.position;
    w.Key(m.data(), static_cast<rapidjson::SizeType>(m.size()));
    w.StartObject();
    w.Key("x");
    w.Double(p.x);
    w.Key("y");
    w.Double(p.y);
    w.Key("z");
    w.Double(p.z);
    w.EndObject();
  }
  w.EndObject();
  w.Key("joined");
  write_names(w, c.joined);
  w.Key("left");
  write_names(w, c.left);
  w.EndObject();
  std::string_view s(sb.GetString(), sb.GetSize());
  return std::string(s.substr(1, s.size() - 2));
}

game_state::game_state(std::string game_id, const world_options& opts, std::shared_ptr<const world_registry> reg)
    : game_id_(std::move(game_id)),
      opts_(opts),
      group_opts_{opts.stale_after, opts.force_refresh},
      reg_(reg ? std::move(reg) : std::make_shared<world_registry>()) {}

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

void game_state::track_entities(const snapshot& s, policies::time_point now, apply_stats& stats) {
  std::unordered_map<std::string, tracked> next;
  next.reserve(s.entities.size());
  auto classify = [&](tracked& t, const std::string& name, const std::optional<std::string>& id,
                      const std::optional<std::string>& kind) {
    const npc_info* npc = reg_->find_npc(name);
    if (!npc && id) npc = reg_->find_npc(*id);
    t.id = id ? *id : (npc ? npc->id : std::string());
    std::optional<std::string_view> k;
    if (kind) k = *kind;
    t.is_npc = policies::classify(npc != nullptr, k) == policies::entity_kind::npc;
    t.agent_id = npc ? npc->agent_id : std::string();
    return npc;
  };
  for (const auto& e : s.entities) {
    tracked t;
    const npc_info* npc = classify(t, e.name, e.id, e.kind);
    bool moved = false;
    auto old = entities_.find(e.name);
    if (e.position) {
      t.position = e.position;
      if (old != entities_.end() && old->second.position) {
        const auto& o = *old->second.position;
        if (policies::moved_beyond(e.position->x - o.x, e.position->y - o.y, e.position->z - o.z,
                                   opts_.movement_threshold_studs))
          moved = true;
        else
          t.position = o;  // a move under the threshold is ignored
      }
    }
    policies::health_values h;
    if (e.health) {
      h.current = e.health->current;
      h.max = e.health->max;
      if (e.health->state) h.state = *e.health->state;
      h.is_moving = e.health->is_moving;
      h.velocity = e.health->velocity;
      t.health = e.health->current;
    }
    t.action = policies::action_from_health(h, moved);
    const location_info* loc =
        t.position ? reg_->nearest_location({t.position->x, t.position->y, t.position->z}) : nullptr;
    t.location = loc ? loc->name : (e.location ? *e.location : std::string());
    t.last_seen_s = e.last_seen ? static_cast<std::int64_t>(*e.last_seen) : s.timestamp;
    if (!t.is_npc) {
      auto& p = players_[t.id.empty() ? e.name : t.id];
      p.name = e.name;
      p.last_seen = now;
      if (e.appearance) p.appearance = *e.appearance;
      t.appearance = p.appearance;
    } else {
      t.appearance = e.appearance ? *e.appearance : (npc ? npc->description : std::string());
    }
    next.insert_or_assign(e.name, std::move(t));
  }
  // Names the game's own clusters list but humanContext lacks: present, without a position.
  for (const auto& gc : s.clusters)
    for (const auto& name : gc.members) {
      if (next.count(name)) continue;
      tracked t;
      const npc_info* npc = classify(t, name, std::nullopt, std::nullopt);
      t.appearance = npc ? npc->description : std::string();
      t.last_seen_s = s.timestamp;
      if (!t.is_npc) {
        auto& p = players_[name];
        p.name = name;
        p.last_seen = now;
        t.appearance = p.appearance;
      }
      next.emplace(name, std::move(t));
    }
  entities_ = std::move(next);
  for (auto it = players_.begin(); it != players_.end();) {
    if (now - it->second.last_seen > opts_.player_cache_ttl) {
      it = players_.erase(it);
      ++stats.players_evicted;
    } else {
      ++it;
    }
  }
}

std::vector<std::vector<std::string>> game_state::cluster_entities(const snapshot& s, apply_stats& stats) {
  // Index entities by sorted name so the result never depends on input order.
  std::vector<const std::string*> names;
  names.reserve(entities_.size());
  for (const auto& [n, t] : entities_) names.push_back(&n);
  std::sort(names.begin(), names.end(), [](auto* a, auto* b) { return *a < *b; });
  std::unordered_map<std::string_view, std::size_t> index;
  index.reserve(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) index.emplace(*names[i], i);

  std::vector<policies::point3> pts;
  std::vector<std::size_t> pt_entity;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto& t = entities_.at(*names[i]);
    if (!t.position) continue;
    pts.push_back({t.position->x, t.position->y, t.position->z});
    pt_entity.push_back(i);
  }
  const auto t0 = std::chrono::steady_clock::now();
  clusterer_.run(pts, opts_.cluster_radius_studs, cluster_scratch_);
  stats.clustering_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  union_find uf(names.size());
  for (std::size_t k = 0; k < cluster_scratch_.size(); ++k) {
    auto c = cluster_scratch_.cluster(k);
    for (std::size_t j = 1; j < c.size(); ++j) uf.unite(pt_entity[c[0]], pt_entity[c[j]]);
  }
  // Entities without a position keep the game's cluster: they join every member of it.
  for (const auto& gc : s.clusters) {
    std::vector<std::size_t> members;
    bool has_unpositioned = false;
    for (const auto& m : gc.members) {
      auto it = index.find(m);
      if (it == index.end()) continue;
      members.push_back(it->second);
      if (!entities_.at(m).position) has_unpositioned = true;
    }
    if (!has_unpositioned) continue;
    for (std::size_t j = 1; j < members.size(); ++j) uf.unite(members[0], members[j]);
  }
  std::vector<std::vector<std::string>> groups(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) groups[uf.find(i)].push_back(*names[i]);
  std::vector<std::vector<std::string>> out;
  for (auto& g : groups)
    if (g.size() >= 2) out.push_back(std::move(g));  // roots are smallest indices: sorted
  return out;
}

std::shared_ptr<const world_view> game_state::make_view(const policies::id_assignment& ids) {
  auto v = std::make_shared<world_view>();
  v->game_id = game_id_;
  v->registry = reg_;
  v->snapshots_applied = applied_;
  // A view's agent ids are views of the registry's strings (world_view::registry).
  auto registry_agent = [&](const std::string& agent) -> std::string_view {
    for (const auto& n : reg_->npcs())
      if (!agent.empty() && n.agent_id == agent) return n.agent_id;
    return {};
  };
  v->entities.reserve(entities_.size());
  for (const auto& [name, t] : entities_) {
    entity_view e;
    e.name = name;
    e.id = t.id;
    e.is_npc = t.is_npc;
    e.agent_id = registry_agent(t.agent_id);
    e.position = t.position;
    e.location = t.location;
    e.action = policies::to_string(t.action);
    v->entities.emplace(name, std::move(e));
  }
  for (const auto& c : ids.clusters) {
    for (const auto& m : c.members) v->entities[m].cluster_id = c.id;
    v->clusters.emplace(c.id, cluster_view{c.id, c.members});
  }
  return v;
}

void game_state::decide_syncs(const snapshot& s, policies::time_point now, apply_result& r) {
  const auto& view = *r.diff.view;
  const std::vector<std::string> none;
  for (const auto& [name, t] : entities_) {
    if (!t.is_npc || t.agent_id.empty()) continue;
    r.stats.naive_writes += 2;
    const auto& ev = view.entities.at(name);
    const auto* cl = ev.cluster_id.empty() ? nullptr : &view.clusters.at(ev.cluster_id);
    std::vector<std::string> members;
    if (cl)
      for (const auto& m : cl->members)
        if (m != name) members.push_back(m);
    const auto action = policies::to_string(t.action);
    auto& c = npcs_[t.agent_id];
    const auto reason = policies::decide_group_update(c.st, members, t.location, action, now, group_opts_);
    if (reason == policies::update_reason::none) {
      ++r.stats.cache_hits;
      continue;
    }
    // Membership history: every change becomes an update line, whatever the reason.
    const auto& before = c.st.known ? c.st.members : none;
    if (before != members)
      push_updates(c.updates, membership_update_lines(minus(members, before), minus(before, members)));

    auto req = std::make_shared<sync_request>();
    req->game_id = game_id_;
    req->npc_name = name;
    req->agent_id = t.agent_id;
    req->members = members;
    for (const auto& m : members) {
      const auto& o = entities_.at(m);
      req->members_block.members.push_back({m, o.appearance, iso8601(o.last_seen_s)});
    }
    req->members_block.updates = c.updates;
    req->members_block.last_updated = iso8601(s.timestamp);
    req->status = policies::status_text(t.health, t.location, t.action);
    const auto mh = group_block_hash(req->members_block);
    const auto sh = text_hash(req->status);
    if (!policies::block_needs_write(reason, c.st.members_hash, mh) &&
        !policies::block_needs_write(reason, c.st.status_hash, sh)) {
      policies::record_noop(c.st, members, t.location, action);
      ++r.stats.skipped_noops;
      continue;
    }
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
  auto groups = cluster_entities(s, r.stats);
  auto ids = policies::assign_cluster_ids(clusters_, groups, next_cluster_id_);
  r.diff.view = make_view(ids);
  for (auto& ch : ids.changes) {
    r.stats.joins += ch.joined.size();
    r.stats.leaves += ch.left.size();
    r.diff.changes.push_back({ch.id, std::move(ch.members), std::move(ch.joined), std::move(ch.left)});
    r.events.push_back(cluster_update_body(r.diff.changes.back(), *r.diff.view));
  }
  clusters_ = std::move(ids.clusters);
  r.clusters = clusters_.size();
  decide_syncs(s, now, r);
  return r;
}

}  // namespace orch::workers::reference
