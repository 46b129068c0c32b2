#include "workers/snapshot_worker.hpp"

#include <utility>

namespace orch::workers {

struct snapshot_worker::game_slot {
  game_slot(std::string id, const world_options& o, std::shared_ptr<const world_registry> r,
            std::shared_ptr<clusterer_pool> c)
      : state(std::move(id), o, std::move(r), std::move(c)) {}
  // The dispatcher already runs one snapshot per game at a time; the lock keeps direct
  // callers of process() (tests, benches) honest too and is uncontended in the daemon.
  std::mutex mu;
  game_state state;
  std::size_t clusters = 0;
};

namespace {

std::vector<double> clustering_buckets() {
  return {0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1};
}

}  // namespace

snapshot_worker::snapshot_worker(const world_options& opts, std::shared_ptr<const world_registry> reg,
                                 queues::event_hub& events, queues::dispatcher& dispatcher,
                                 const policies::clock& clock, metrics::registry& m)
    : opts_(opts),
      reg_(reg ? std::move(reg) : std::make_shared<world_registry>()),
      events_(events),
      dispatcher_(dispatcher),
      clock_(clock),
      applied_(m.get_counter("npcorch_snapshots_applied_total", "Snapshots applied")),
      stale_(m.get_counter("npcorch_snapshots_stale_total", "Snapshots dropped as stale (seq not newer)")),
      clusters_(m.get_gauge("npcorch_clusters", "Clusters across all games")),
      joins_(m.get_counter("npcorch_cluster_joins_total", "Members that joined a cluster")),
      leaves_(m.get_counter("npcorch_cluster_leaves_total", "Members that left a cluster")),
      cluster_updates_(m.get_counter("npcorch_cluster_updates_total", "cluster_update events published")),
      cache_hits_(m.get_counter("npcorch_group_cache_hits_total", "NPC group states unchanged at a snapshot")),
      updates_changed_(m.get_counter("npcorch_group_updates_total", "Group block syncs decided, by reason",
                                     {{"reason", "changed"}})),
      updates_stale_(
          m.get_counter("npcorch_group_updates_total", "Group block syncs decided, by reason", {{"reason", "stale"}})),
      updates_forced_(
          m.get_counter("npcorch_group_updates_total", "Group block syncs decided, by reason", {{"reason", "forced"}})),
      updates_retry_(
          m.get_counter("npcorch_group_updates_total", "Group block syncs decided, by reason", {{"reason", "retry"}})),
      writes_skipped_(m.get_counter("npcorch_block_writes_skipped_total",
                                    "Block writes skipped because the text would not change")),
      writes_naive_(m.get_counter("npcorch_letta_block_writes_naive_total",
                                  "Block writes a sender writing every NPC's blocks every snapshot would make")),
      players_evicted_(m.get_counter("npcorch_players_evicted_total", "Player cache entries expired")),
      syncs_rejected_(m.get_counter("npcorch_memory_sync_rejected_total",
                                    "Memory syncs the background queue refused (retried next snapshot)")),
      unknown_npcs_(m.get_counter("npcorch_snapshot_unknown_npcs_total",
                                  "NPC entities of a snapshot the registry does not know (not mapped to the game)")),
      clustering_seconds_(
          m.get_histogram("npcorch_clustering_seconds",
                          "Time to cluster one snapshot (observed when clustering runs: a snapshot in which "
                          "nobody moved, came or left keeps the last clusters)",
                          {}, clustering_buckets())) {}

snapshot_worker::~snapshot_worker() = default;

void snapshot_worker::set_sync_key(std::function<void(std::string&, const std::string&, const std::string&)> fn) {
  sync_key_ = std::move(fn);
}

void snapshot_worker::add_diff_listener(std::function<void(const cluster_diff&)> fn) {
  listeners_.push_back(std::move(fn));
}

std::shared_ptr<snapshot_worker::game_slot> snapshot_worker::slot_for(const std::string& game_id) {
  std::lock_guard lk(mu_);
  auto& s = games_[game_id];
  if (!s) s = std::make_shared<game_slot>(game_id, opts_, reg_, clusterers_);
  return s;
}

void snapshot_worker::forget_game(const std::string& game_id) {
  std::shared_ptr<game_slot> slot;
  {
    std::lock_guard lk(mu_);
    if (auto it = games_.find(game_id); it != games_.end()) {
      slot = std::move(it->second);
      games_.erase(it);
    }
    views_.erase(game_id);
    std::erase_if(npc_game_, [&](const auto& kv) { return kv.second == game_id; });
  }
  if (!slot) return;
  std::lock_guard glk(slot->mu);  // after mu_, never inside it: process() takes them the other way
  clusters_.add(-static_cast<double>(slot->clusters));
  slot->clusters = 0;
}

void snapshot_worker::mark_sync_failed(const std::string& agent_id) {
  std::lock_guard lk(mu_);
  failed_.insert(agent_id);
}

apply_result snapshot_worker::process(const snapshot& s) {
  std::shared_ptr<game_slot> slot;
  return process(s, slot);
}

apply_result snapshot_worker::process(const snapshot& s, std::shared_ptr<game_slot>& slot) {
  slot = slot_for(s.game_id);
  auto& g = *slot;
  std::lock_guard glk(g.mu);
  {
    std::lock_guard lk(mu_);
    for (auto it = failed_.begin(); it != failed_.end();)
      it = g.state.mark_sync_failed(*it) ? failed_.erase(it) : std::next(it);
  }
  auto r = g.state.apply(s, clock_.now());
  if (r.stale) {
    stale_.inc();
    return r;
  }
  applied_.inc();
  clusters_.add(static_cast<double>(r.clusters) - static_cast<double>(g.clusters));
  g.clusters = r.clusters;
  if (r.stats.clustered) clustering_seconds_.observe(r.stats.clustering_seconds);
  joins_.inc(r.stats.joins);
  leaves_.inc(r.stats.leaves);
  cache_hits_.inc(r.stats.cache_hits);
  writes_skipped_.inc(r.stats.skipped_noops);
  writes_naive_.inc(r.stats.naive_writes);
  players_evicted_.inc(r.stats.players_evicted);
  using policies::update_reason;
  updates_changed_.inc(r.stats.updates[static_cast<std::size_t>(update_reason::changed)]);
  updates_stale_.inc(r.stats.updates[static_cast<std::size_t>(update_reason::stale)]);
  updates_forced_.inc(r.stats.updates[static_cast<std::size_t>(update_reason::forced)]);
  updates_retry_.inc(r.stats.updates[static_cast<std::size_t>(update_reason::retry)]);

  // Order matters to readers: the cluster_update events first, then the view, then the
  // listeners (which may tell NPCs of newcomers only after the update is out).
  events_.publish_all(s.game_id, r.events);
  cluster_updates_.inc(r.events.size());
  {
    std::lock_guard lk(mu_);
    auto& published = views_[s.game_id];
    const bool same_view = published == r.diff.view;  // nothing readers see changed
    published = r.diff.view;
    if (!same_view) {
      // Only registry NPCs get a game (keyed by registry id): invented npc names cannot grow
      // this map or redirect another NPC's /chat/v3 calls.
      for (const auto& [name, e] : r.diff.view->entities) {
        if (!e.is_npc) continue;
        const auto* known = e.id.empty() ? nullptr : reg_->find_npc(e.id);
        if (!known) known = reg_->find_npc(name);
        if (!known) {
          unknown_npcs_.inc();
          continue;
        }
        npc_game_[known->id] = s.game_id;
      }
    }
  }
  for (const auto& fn : listeners_) fn(r.diff);
  return r;
}

void snapshot_worker::handle(queues::message m, queues::completion done) {
  auto s = m.payload.as<snapshot>();
  if (!s) {
    stale_.inc();
    done.done();
    return;
  }
  std::shared_ptr<game_slot> slot;
  auto r = process(*s, slot);
  bool replaced_any = false;
  // Most keys only find their waiting letter: built in a buffer this thread reuses, copied only
  // into a new letter's message.
  thread_local std::string key;
  for (auto& req : r.syncs) {
    if (sync_key_)
      sync_key_(key, req->agent_id, req->game_id);
    else
      key.assign(req->agent_id);
    std::shared_ptr<const sync_request> replaced;
    auto letter = mailbox_.post(key, req, &replaced);
    if (!letter) {  // it replaced the request of the key's waiting letter
      dispatcher_.count_coalesced(queues::message_kind::memory_sync);
      req = std::move(replaced);  // the letter holds the new one; the old is recycled below
      replaced_any = true;
      continue;
    }
    queues::message sync;
    sync.kind = queues::message_kind::memory_sync;
    sync.key = key;
    // No coalesce flag: the mailbox is where syncs coalesce, and one letter per key waits.
    sync.payload = letter;
    if (dispatcher_.submit(std::move(sync)).status != queues::submit_status::accepted) {
      // Not queued: the NPC is written again at its next snapshot (the key sends anew).
      letter->take();
      syncs_rejected_.inc();
      std::lock_guard lk(mu_);
      failed_.insert(req->agent_id);
    }
    req.reset();  // the letter (or nobody) holds it now
  }
  if (replaced_any) {
    // The replaced requests go back to their game, whose next decisions reuse them.
    std::lock_guard glk(slot->mu);
    for (auto& old : r.syncs) slot->state.recycle(std::move(old));
  }
  done.done();
}

std::shared_ptr<const world_view> snapshot_worker::view(const std::string& game_id) const {
  std::lock_guard lk(mu_);
  auto it = views_.find(game_id);
  return it == views_.end() ? nullptr : it->second;
}

std::string snapshot_worker::game_of_npc(const std::string& npc_id_or_name) const {
  std::lock_guard lk(mu_);
  // Addressed by registry id or display name; the map holds registry ids.
  const auto* npc = reg_->find_npc(npc_id_or_name);
  if (!npc) return {};
  auto it = npc_game_.find(npc->id);
  return it == npc_game_.end() ? std::string{} : it->second;
}

}  // namespace orch::workers
