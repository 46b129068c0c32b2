#pragma once
// What one applied snapshot changed in a game's clusters, handed by the snapshot worker to
// listeners (the conversation worker makes entry notices and drops turns of departed
// speakers from it). Produced after the snapshot's cluster_update events were published.
#include <memory>
#include <string>
#include <vector>

#include "workers/world_view.hpp"

namespace orch::workers {

struct cluster_change {
  std::string cluster_id;
  std::vector<std::string> members;  // after the snapshot (empty: dissolved)
  std::vector<std::string> joined;
  std::vector<std::string> left;
};

struct cluster_diff {
  std::string game_id;
  std::vector<cluster_change> changes;     // one per cluster whose membership changed
  std::shared_ptr<const world_view> view;  // the world after this snapshot
};

// A group_members block write finished for an NPC: the members it now lists. The
// conversation worker waits for this before telling the NPC of a newcomer (DESIGN 5.3).
struct block_synced {
  std::string game_id;
  std::string npc_name;
  std::vector<std::string> members;
};

}  // namespace orch::workers
