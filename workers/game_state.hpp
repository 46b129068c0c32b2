#pragma once
// One game's world as the snapshot worker keeps it (DESIGN 5.1, 5.2): its entities, its
// clusters with stable ids, the per-NPC group cache and the player cache. `apply` turns a
// snapshot into everything the worker then sends out: the cluster diff, the cluster_update
// event bodies, the new world_view and the memory syncs to submit. It does no I/O and takes
// `now` from the caller, so tests drive it with a manual clock.
//
// Ownership: the snapshot worker owns one game_state per game. Thread-safety: none; the
// dispatcher runs one snapshot per game at a time (key = game id) and the worker serializes
// mark_sync_failed through its own lock. The views it publishes come back to it (to be filled
// again) through their deleter, from whatever thread drops the last reference: that hand-back
// is locked. How it fails: it does not throw on data; a stale snapshot (seq not newer than the
// last applied) comes back with `stale` set and no effect.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/union_find.hpp"
#include "policies/clock.hpp"
#include "policies/cluster_ids.hpp"
#include "policies/clustering.hpp"
#include "policies/entity_state.hpp"
#include "policies/group_update.hpp"
#include "queues/events.hpp"
#include "workers/cluster_diff.hpp"
#include "workers/clusterer_pool.hpp"
#include "workers/group_blocks.hpp"
#include "workers/snapshot.hpp"
#include "workers/world_options.hpp"
#include "workers/world_registry.hpp"
#include "workers/world_view.hpp"

namespace orch::workers {

// One member of a cluster as its NPCs' group_members blocks list it. Last seen as epoch
// seconds: the memory-sync worker formats it when it writes.
struct sync_member {
  std::string name;
  std::string appearance;
  std::int64_t last_seen_s = 0;
};

// What one memory sync must make an NPC's blocks say. Both blocks travel whole, so a newer
// sync that replaces (coalesces) an older one loses nothing: the sync worker writes each block
// whose content differs from what it reads back, or every block when `force` is set. Slim on
// purpose (most syncs are coalesced away unread): the cluster's members are one immutable list
// shared by every request of that cluster built in one apply, the update lines are shared with
// the game's cache until they change (copy-on-write), and timestamps are numbers.
struct sync_request {
  std::string game_id;
  std::string npc_name;
  std::string agent_id;
  // The members of the NPC's cluster by name (the NPC itself among them or not: the block
  // leaves it out); null when it is in no cluster. Never changed once shared.
  std::shared_ptr<const std::vector<sync_member>> cluster;
  std::shared_ptr<const update_lines> updates;  // newest first; null = none
  std::int64_t last_updated_s = 0;              // the snapshot's timestamp
  std::string status;
  bool force = false;  // stale / forced / retry: rewrite even when unchanged
  policies::update_reason reason = policies::update_reason::changed;
};

// The group_members block the request asks for: every other member of the NPC's cluster, by
// name, with the timestamps formatted (iso8601).
group_block members_block_of(const sync_request& r);
// The names that block lists (for block_synced).
std::vector<std::string> member_names_of(const sync_request& r);

struct apply_stats {
  std::size_t joins = 0;
  std::size_t leaves = 0;
  std::size_t cache_hits = 0;
  std::size_t skipped_noops = 0;
  std::size_t naive_writes = 0;  // 2 per registry NPC with an agent in this game
  std::size_t players_evicted = 0;
  std::size_t name_hint_hits = 0;        // humanContext entities found by position, not by hash
  std::size_t quick_cache_hits = 0;      // cache_hits decided without building the member list
  std::size_t views_recycled = 0;        // new views filled in place of one no reader held any more
  std::size_t requests_recycled = 0;     // sync requests decided into a spare (recycle())
  std::array<std::size_t, 5> updates{};  // by policies::update_reason
  bool clustered = false;                // false: nothing clustering reads changed, the last clusters were kept
  double clustering_seconds = 0;
};

struct apply_result {
  bool stale = false;
  cluster_diff diff;                       // changes and the new view
  std::vector<queues::event_body> events;  // a cluster_update per change, in order
  std::vector<std::shared_ptr<const sync_request>> syncs;
  apply_stats stats;
  std::size_t clusters = 0;  // clusters in the game after this snapshot
};

class game_state {
 public:
  // `clusterers`: shared with the worker's other games (null: a pool of its own).
  game_state(std::string game_id, const world_options& opts, std::shared_ptr<const world_registry> reg,
             std::shared_ptr<clusterer_pool> clusterers = nullptr);

  apply_result apply(const snapshot& s, policies::time_point now);

  // The last sync of this agent finally failed: write its blocks at its next snapshot.
  // Returns false when the agent has no group state in this game.
  bool mark_sync_failed(const std::string& agent_id);

  // A request of this game that a newer one replaced before it ran (sync_mailbox::post), handed
  // back so that a later decision reuses its object and string buffers: every field is written
  // anew then. It must have been made by decide_syncs (a non-const object); one of another game
  // is ignored. Kept only when nobody else holds it, and at most spare_request_cap of them (their
  // member lists and update lines are let go at once; their string buffers stay).
  static constexpr std::size_t spare_request_cap = 8;
  void recycle(std::shared_ptr<const sync_request> req);
  std::size_t spare_requests() const { return spare_requests_.size(); }

  std::size_t cluster_count() const { return clusters_.size(); }
  std::size_t player_cache_size() const { return players_.size(); }
  const policies::npc_group_state* group_state_of(const std::string& agent_id) const;
  // The entity table: slots in use (the entities present) and slots in all (in use + free).
  // Never more slots than entities present at once during one apply (last snapshot's + new).
  std::size_t entity_count() const { return live_; }
  std::size_t table_size() const { return table_.size(); }
  std::size_t table_capacity() const { return table_.capacity(); }  // == table_size() after an apply

 private:
  static constexpr std::uint32_t no_slot = 0xffffffffU;
  // Clusters by slot id (members sorted by slot): a slot in the last apply's clusters still
  // names the same entity during this apply (a slot is freed at the end of the apply that
  // misses its entity and reused at the earliest by the next one).
  using slot_cluster = policies::basic_id_cluster<std::uint32_t>;
  using slot_assignment = policies::basic_id_assignment<std::uint32_t>;
  struct npc_cache;
  struct player_entry;
  // One entity, updated in place from snapshot to snapshot: its strings keep their buffers,
  // so a steady game allocates nothing per entity here. A slot of table_, found by its name
  // through ids_ (or the positional hint); a slot whose entity left goes to free_ for reuse.
  // There is one per entity of every game: the fields are ordered by size (no padding holes).
  struct tracked {
    std::string name;  // display name (its key in ids_)
    std::string id;
    std::string location;
    std::string appearance;
    std::string npc_id;
    std::string_view agent_id;  // its registry entry's (reg_ outlives the table), "" when none
    std::optional<vec3> position;
    std::optional<vec3> prev_position;  // its position before this apply
    std::optional<double> health;
    std::int64_t last_seen_s = 0;
    std::uint64_t gen = 0;              // the apply that last touched it
    std::uint64_t members_touched = 0;  // the apply whose cluster changes named it (joined, left)
    // Its entry in view_ (the last published view), null until a view lists it: the view is
    // compared with the world through these, with no lookup by name.
    const entity_view* view_entry = nullptr;
    // Its agent's group cache (an element of npcs_, never erased), null until decide_syncs
    // first looks it up and again whenever the slot gets another name or agent.
    npc_cache* cache = nullptr;
    // Its registry entry as last looked up (the registry never changes): valid while the
    // snapshot gives the same id (or none again) for this name (`npc_known`, `npc_by_id`:
    // looked up with an id, `npc_id`).
    const npc_info* npc = nullptr;
    // Its player cache entry (an element of players_) as last looked up, for a player: valid
    // while no entry was evicted since (`player_evictions` equals players_evictions_) and the
    // entry's key is still the one this entity is cached under.
    std::pair<const std::string, player_entry>* player = nullptr;
    std::uint64_t player_evictions = 0;
    std::uint32_t index = 0;            // rank of its name (cluster_entities)
    std::uint32_t successor = no_slot;  // the entity the last snapshot listed after it (hint)
    bool live = false;                  // an entity present (false: on free_)
    bool is_npc = false;
    bool existed = false;  // tracked before this apply
    bool npc_known = false;
    bool npc_by_id = false;
    policies::entity_action action = policies::entity_action::idle;
  };
  struct player_entry {
    std::string name;
    std::string appearance;
    policies::time_point last_seen{};
  };
  struct npc_cache {
    policies::npc_group_state st;
    // Newest first; shared with the sync requests that carry them, so replaced (never
    // changed in place) when they change.
    std::shared_ptr<const update_lines> updates = std::make_shared<const update_lines>();
    std::uint64_t updates_hash = update_lines{}.hash();  // kept with `updates`
    // The apply and the slot of its last decision: `st` holds that slot's members, location
    // and action as of that apply (every decision leaves them so, a cache hit included).
    std::uint64_t decided_gen = 0;
    std::uint32_t decided_slot = no_slot;
  };

  void track_entities(const snapshot& s, policies::time_point now, apply_stats& stats);
  // A fresh slot for `name` (reused from free_ when there is one), registered in ids_ by caller.
  std::uint32_t allocate(const std::string& name);
  // The player cache entry under `key` (made when missing), through `t`'s cached entry when
  // that is still the one.
  player_entry& player_of(tracked& t, const std::string& key);
  // The clusters by slot, ordered by their first member's name.
  std::vector<std::vector<std::uint32_t>> cluster_entities(const snapshot& s, apply_stats& stats);
  // The names of `slots`, sorted.
  std::vector<std::string> names_of(const std::vector<std::uint32_t>& slots);
  std::shared_ptr<const world_view> make_view(const slot_assignment& ids, apply_stats& stats);
  bool view_changed(const slot_assignment& ids) const;
  void decide_syncs(const snapshot& s, policies::time_point now, apply_result& r);
  // Marks every entity whose cluster members this apply's changes alter (members_touched).
  void mark_touched(const slot_assignment& ids);
  // Whether decide_group_update returns `none` for slot `id`, asked without building its member
  // list: its cache was decided by this slot in the previous apply and no cluster change of
  // this apply touched its members, so they are the ones the cache holds.
  bool unchanged_since_decision(std::uint32_t id, policies::time_point now) const;
  // A view as this game_state makes it: with the filler's own index of its entries by slot.
  struct filled_view;
  // Brings `v` (empty, or an older view no reader holds) up to the world as it is now.
  void fill_view(filled_view& v, const slot_assignment& ids);
  // Indexes this apply's clusters `cl` (once per apply): cluster_of_ and by_name_.
  void index_clusters(const std::vector<slot_cluster>& cl);
  // Cluster k's slots, by name.
  std::span<const std::uint32_t> members_by_name(std::uint32_t k) const {
    return {by_name_.data() + by_name_start_[k], by_name_.data() + by_name_start_[k + 1]};
  }

  std::string game_id_;
  world_options opts_;
  policies::group_update_options group_opts_;
  std::shared_ptr<const world_registry> reg_;
  std::optional<std::uint64_t> last_seq_;
  std::uint64_t applied_ = 0;
  std::uint64_t next_cluster_id_ = 1;
  // The interned entity table: each display name gets a slot id once, while it is present.
  std::unordered_map<std::string, std::uint32_t> ids_;  // display name -> slot of table_
  std::vector<tracked> table_;                          // by slot id
  std::vector<std::uint32_t> free_;                     // slots whose entity left
  std::size_t live_ = 0;                                // slots in use
  // The positional hints: slot of the k-th humanContext entity of the last applied snapshot (a
  // steady game lists them in the same order, so one name compare replaces a hash lookup), and
  // each slot's successor in that list (after an entity is missing or added, the rest still hit).
  std::vector<std::uint32_t> last_order_;
  std::vector<std::uint32_t> next_order_;  // last_order_ being built
  // The slots of the game's own clusters' members, in the snapshot's order (looked up once per
  // apply by track_entities, read by cluster_entities).
  std::vector<std::uint32_t> cluster_slots_;
  std::vector<std::uint32_t> last_cluster_slots_;  // the last apply's (the positional hint)
  std::vector<std::uint32_t> rank_scratch_;        // names_of
  std::vector<std::uint32_t> cluster_sizes_;       // the game's clusters' sizes (with cluster_slots_)
  std::vector<std::uint32_t> last_cluster_sizes_;
  bool layout_changed_ = true;  // this apply changed what clustering reads (track_entities)
  std::vector<slot_cluster> clusters_;
  std::unordered_map<std::string, player_entry> players_;  // by player id (or name)
  std::uint64_t players_evictions_ = 0;                    // entries players_ ever let go
  // By agent id: the registry's string (reg_ outlives the map), so no key is a copy of it.
  std::unordered_map<std::string_view, npc_cache> npcs_;
  std::shared_ptr<clusterer_pool> clusterers_;
  policies::basic_id_scratch<std::uint32_t> id_scratch_;
  std::vector<std::vector<std::uint32_t>> spare_groups_;  // member lists for cluster_entities
  policies::cluster_set cluster_scratch_;
  // Scratch reused by every apply (no per-snapshot allocation once warm).
  std::uint64_t gen_ = 0;
  std::vector<std::uint32_t> order_;  // slots in use by name (valid unless order_dirty_)
  bool order_dirty_ = true;
  std::vector<policies::point3> pts_;
  std::vector<std::uint32_t> pt_entity_;
  common::union_find groups_;
  std::vector<std::uint32_t> group_size_;
  std::vector<std::uint32_t> group_slot_;
  std::uint64_t indexed_gen_ = 0;             // the apply whose clusters are indexed below
  std::vector<std::uint32_t> cluster_of_;     // per slot: its cluster's index (no_slot: none)
  std::vector<std::uint32_t> by_name_;        // every cluster's slots by name, one after another
  std::vector<std::uint32_t> by_name_start_;  // per cluster + 1: where its slots start
  std::shared_ptr<const world_view> view_;    // the last published view (reused when unchanged)
  // Views the last reader let go of, kept for the next make_view to fill in place (defined in
  // game_state_view.cpp): each published view's deleter hands it back, from whatever thread drops
  // the last reference, so the pool lives as long as the game_state or any of its views (made
  // with the first view).
  class view_pool;
  std::shared_ptr<view_pool> pool_;
  std::vector<std::string> members_;  // scratch of decide_syncs
  group_block block_scratch_;         // scratch of decide_syncs (content hash: members only)
  // Scratch of decide_syncs: the shared member list of each cluster a request of this apply
  // names (built once per cluster, on its first request), by cluster index.
  std::vector<std::pair<std::uint32_t, std::shared_ptr<const std::vector<sync_member>>>> shared_members_;
  std::vector<std::shared_ptr<sync_request>> spare_requests_;  // recycled, for decide_syncs
  std::string status_scratch_;                                 // scratch of decide_syncs
};

// The cluster_update event of a change (DESIGN 3.3): every member, each one's position from
// `view` when it has one.
queues::cluster_update make_cluster_update(const cluster_change& c, const world_view& view);

}  // namespace orch::workers
