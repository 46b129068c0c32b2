#pragma once
// The snapshot worker (DESIGN 5.1, 5.2): the handler of message_kind::snapshot. For each
// applied snapshot it publishes one `cluster_update` event per changed cluster, then the new
// immutable world_view, then calls the diff listeners, then posts the memory sync of each NPC
// whose blocks need writing (key = agent id, or the Letta lane): a new `memory_sync` message
// whose payload is a sync_mailbox::letter, or the newer request in the letter already waiting.
//
// Ownership: the app owns one snapshot_worker; it keeps one game_state per game. Thread-
// safety: handle() may run for different games on different threads at once (the dispatcher
// never runs two snapshots of one game at once); view(), game_of_npc() and mark_sync_failed()
// may be called from any thread. Listeners are registered before the dispatcher starts and
// run on the handler's thread. How it fails: no exception leaves handle(); a stale snapshot
// is dropped and counted; a payload that is no snapshot (checked by its type tag) is dropped
// and counted as stale.
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/metrics.hpp"
#include "policies/clock.hpp"
#include "queues/dispatcher.hpp"
#include "queues/event_hub.hpp"
#include "workers/cluster_diff.hpp"
#include "workers/game_state.hpp"
#include "workers/sync_mailbox.hpp"
#include "workers/world_options.hpp"
#include "workers/world_registry.hpp"
#include "workers/world_view.hpp"

namespace orch::workers {

class snapshot_worker final : public world_views {
 public:
  snapshot_worker(const world_options& opts, std::shared_ptr<const world_registry> reg, queues::event_hub& events,
                  queues::dispatcher& dispatcher, const policies::clock& clock, metrics::registry& metrics);
  ~snapshot_worker() override;

  void add_diff_listener(std::function<void(const cluster_diff&)> fn);  // before start
  // The dispatcher key of a memory sync from (agent, game) (default: the agent). Before start;
  // the app sets letta_client::lane_key, so per-game conversations sync in parallel.
  // It writes the key over `out` (a buffer reused per thread: no allocation per sync).
  void set_sync_key(std::function<void(std::string& out, const std::string& agent, const std::string& game)> fn);
  // message_kind::snapshot; payload std::shared_ptr<workers::snapshot>.
  void handle(queues::message m, queues::completion done);
  // Called by the memory_sync_worker when a sync finally failed.
  void mark_sync_failed(const std::string& agent_id);

  // Applies a snapshot: state, metrics, events, view, diff listeners. Returns the result so
  // that handle() (and tests, benches) can submit the syncs.
  apply_result process(const snapshot& s);

  std::shared_ptr<const world_view> view(const std::string& game_id) const override;
  std::string game_of_npc(const std::string& npc_id_or_name) const override;
  // Drops everything kept for an evicted game (state, view, NPC -> game entries); a snapshot
  // of it being applied at that moment finishes on its own copy.
  void forget_game(const std::string& game_id);

 private:
  struct game_slot;
  std::shared_ptr<game_slot> slot_for(const std::string& game_id);
  // process(), and the game's slot it applied the snapshot to (for recycling its requests).
  apply_result process(const snapshot& s, std::shared_ptr<game_slot>& slot);

  world_options opts_;
  std::shared_ptr<const world_registry> reg_;
  std::shared_ptr<clusterer_pool> clusterers_ = std::make_shared<clusterer_pool>();  // the games' scratch
  std::function<void(std::string&, const std::string&, const std::string&)> sync_key_;
  queues::event_hub& events_;
  queues::dispatcher& dispatcher_;
  sync_mailbox mailbox_;  // the syncs waiting in the background queue, one per sync key
  const policies::clock& clock_;
  std::vector<std::function<void(const cluster_diff&)>> listeners_;

  mutable std::mutex mu_;  // guards games_ (the map), views_, npc_game_, failed_
  std::unordered_map<std::string, std::shared_ptr<game_slot>> games_;
  std::unordered_map<std::string, std::shared_ptr<const world_view>> views_;
  std::unordered_map<std::string, std::string> npc_game_;  // registry npc id -> game (registry NPCs only)
  std::unordered_set<std::string> failed_;                 // agents whose sync failed

  metrics::counter& applied_;
  metrics::counter& stale_;
  metrics::gauge& clusters_;
  metrics::counter& joins_;
  metrics::counter& leaves_;
  metrics::counter& cluster_updates_;
  metrics::counter& cache_hits_;
  metrics::counter& updates_changed_;
  metrics::counter& updates_stale_;
  metrics::counter& updates_forced_;
  metrics::counter& updates_retry_;
  metrics::counter& writes_skipped_;
  metrics::counter& writes_naive_;
  metrics::counter& players_evicted_;
  metrics::counter& syncs_rejected_;
  metrics::counter& unknown_npcs_;
  metrics::histogram& clustering_seconds_;
};

}  // namespace orch::workers
