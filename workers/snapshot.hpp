#pragma once
// A snapshot as parsed and validated once by the HTTP/WS codec (daemon/json_codec,
// daemon/snapshot_reader) and handed to the snapshot worker through the urgent queue. Field names follow the original
// game's payload (DESIGN 3.1); every humanContext field is optional.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/point3.hpp"

namespace orch::workers {

using vec3 = common::point3;

struct entity_health {
  std::optional<double> current;
  std::optional<double> max;
  std::optional<std::string> state;  // e.g. "Running", "Dead"
  std::optional<bool> is_moving;
  std::optional<double> velocity;
};

// One humanContext entry (display name -> object).
struct snapshot_entity {
  std::string name;  // display name (the humanContext key)
  std::optional<vec3> position;
  std::optional<entity_health> health;
  std::optional<std::string> location;  // as the game reported it (informational)
  std::optional<std::string> kind;      // "npc" | "player"
  std::optional<std::string> id;        // npc id or player userId
  std::optional<std::string> appearance;
  std::optional<double> last_seen;  // epoch seconds, informational
};

// One entry of the game's own `clusters` array.
struct game_cluster {
  std::vector<std::string> members;
  std::int64_t npcs = 0;
  std::int64_t players = 0;
};

struct snapshot {
  std::string game_id = "default";   // body `gameId`, else header X-Game-Id, else "default"
  std::optional<std::uint64_t> seq;  // per game; not newer than the last applied = stale
  std::int64_t timestamp = 0;        // informational (durations use the daemon's clock)
  std::size_t event_count = 0;       // size of `events` (contents not used yet)
  std::vector<game_cluster> clusters;
  std::vector<snapshot_entity> entities;  // humanContext entries, in document order
};

}  // namespace orch::workers
