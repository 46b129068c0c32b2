#pragma once
// The game_state as it was before the flat-table rewrite (commit 8d26d3f), kept in the test
// tree only as the reference the new one is compared with on random snapshot sequences
// (tests/workers/game_state_equivalence_test.cpp). Same types (apply_stats) except the sync
// request, kept in its old shape (the block spelled out, timestamps formatted) to check the
// slim workers::sync_request against; the class and the event renderer live in namespace
// orch::workers::reference.
#include "workers/game_state.hpp"

namespace orch::workers::reference {

// A memory sync as it was built: the whole group_members block and the names it lists.
struct sync_request {
  std::string game_id;
  std::string npc_name;
  std::string agent_id;
  group_block members_block;
  std::vector<std::string> members;
  std::string status;
  bool force = false;
  policies::update_reason reason = policies::update_reason::changed;
};

// The result as it was: cluster_update events as brace-less JSON members.
struct apply_result {
  bool stale = false;
  cluster_diff diff;
  std::vector<std::string> events;
  std::vector<std::shared_ptr<const sync_request>> syncs;
  apply_stats stats;
  std::size_t clusters = 0;
};

class game_state {
 public:
  game_state(std::string game_id, const world_options& opts, std::shared_ptr<const world_registry> reg);

  apply_result apply(const snapshot& s, policies::time_point now);

  // The last sync of this agent finally failed: write its blocks at its next snapshot.
  // Returns false when the agent has no group state in this game.
  bool mark_sync_failed(const std::string& agent_id);

  std::size_t cluster_count() const { return clusters_.size(); }
  std::size_t player_cache_size() const { return players_.size(); }
  const policies::npc_group_state* group_state_of(const std::string& agent_id) const;

 private:
  struct tracked {
    std::string id;
    bool is_npc = false;
    std::string agent_id;
    std::optional<vec3> position;
    std::optional<double> health;
    std::string location;
    policies::entity_action action = policies::entity_action::idle;
    std::string appearance;
    std::int64_t last_seen_s = 0;
  };
  struct player_entry {
    std::string name;
    std::string appearance;
    policies::time_point last_seen{};
  };
  struct npc_cache {
    policies::npc_group_state st;
    std::vector<std::string> updates;  // newest first
  };

  void track_entities(const snapshot& s, policies::time_point now, apply_stats& stats);
  std::vector<std::vector<std::string>> cluster_entities(const snapshot& s, apply_stats& stats);
  std::shared_ptr<const world_view> make_view(const policies::id_assignment& ids);
  void decide_syncs(const snapshot& s, policies::time_point now, apply_result& r);

  std::string game_id_;
  world_options opts_;
  policies::group_update_options group_opts_;
  std::shared_ptr<const world_registry> reg_;
  std::optional<std::uint64_t> last_seq_;
  std::uint64_t applied_ = 0;
  std::uint64_t next_cluster_id_ = 1;
  std::unordered_map<std::string, tracked> entities_;  // by display name
  std::vector<policies::id_cluster> clusters_;
  std::unordered_map<std::string, player_entry> players_;  // by player id (or name)
  std::unordered_map<std::string, npc_cache> npcs_;        // by agent id
  policies::clusterer clusterer_;
  policies::cluster_set cluster_scratch_;
};

// The members of a cluster_update event after `seq` (DESIGN 3.3), for event_hub::publish:
// "type":"cluster_update","clusterId":..,"members":[..],"positions":{..},"joined":[..],"left":[..]
std::string cluster_update_body(const cluster_change& c, const world_view& view);

}  // namespace orch::workers::reference
