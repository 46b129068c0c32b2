#pragma once
// Runs one flood end to end: probes the target, splits the games over shards (one thread
// each), runs them, reads the daemon's /metrics before and after, and builds the report.
//
// Ownership: run_flood owns everything it creates and returns when the threads are joined.
// Thread-safety: call from one thread. Failure: returns the process exit code — 0 when the
// run completed (whatever the daemon answered), 1 when the target was unreachable.
#include <cstddef>
#include <optional>
#include <ostream>
#include <string>

#include "tools/npc-flood/scenario.hpp"
#include "tools/npc-flood/target_url.hpp"

namespace orch::tools {

struct flood_options {
  target_url target;
  std::string target_text;
  std::optional<target_url> metrics;  // default: target + /metrics
  scenario sc;
  bool ingest = false;  // --mode ingest
  double rate = 0;      // > 0: total requests/s replacing the scenario's mix rate
  int threads = 2;
  bool json = false;
  std::size_t transcript = 0;          // exchanges printed at the end (--transcript N)
  bool game_id_header = false;         // --game-id-header: X-Game-Id on snapshots and chat turns
  std::string game_prefix = "flood-";  // --game-prefix: game ids are prefix + 1..games
};

int run_flood(const flood_options& o, std::ostream& out, std::ostream& err);

}  // namespace orch::tools
