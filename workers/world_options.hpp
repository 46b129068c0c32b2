#pragma once
// `world.*` settings (DESIGN 6).
#include <chrono>
#include <string>

namespace orch::workers {

struct world_options {
  std::string registry_file = "world.yaml";  // resolved against the config file's folder
  double cluster_radius_studs = 10.0;
  double movement_threshold_studs = 0.1;
  std::chrono::seconds stale_after{30};
  std::chrono::seconds force_refresh{300};
  std::chrono::seconds player_cache_ttl{3600};
};

}  // namespace orch::workers
