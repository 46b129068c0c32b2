#pragma once
// Loading of the world registry file (etc/world.yaml, DESIGN 6) for config_loader.
// Stateless; errors are appended to the caller's list, each naming the file, the path
// (`npcs[3].agent_id`) and the 1-based line.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workers/world_registry.hpp"

namespace orch::daemon::detail {

// Returns the registry, or nullopt when the file could not be read or parsed at all.
// Validation errors are appended to `errors` (the registry is still returned, but the
// caller must not use it when errors were added).
std::optional<workers::world_registry> load_registry(const std::string& path, std::vector<std::string>& errors);

// "agent-" followed by a lowercase uuid4.
bool valid_agent_id(std::string_view id);

}  // namespace orch::daemon::detail
