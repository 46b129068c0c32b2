#pragma once
// The end-of-run report: what the flood offered and achieved, latencies, chat-turn outcomes,
// malformed verdicts, and what the daemon's /metrics say about the run (queue wait p99 as a
// bucket bound, deadline misses, accepted/rejected/shed, block writes vs the naive sender,
// Letta calls). Printed as a human table or as one JSON object; a missing figure prints as
// `n/a` (null in JSON), never a crash.
//
// Thread-safety: plain values. Failure: printing never throws except std::bad_alloc.
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tools/npc-flood/flood_stats.hpp"
#include "tools/npc-flood/prom_text.hpp"

namespace orch::tools {

struct run_report {
  std::string scenario;
  std::string mode;     // "scenario" or "ingest"
  std::string target;
  std::string registry_note;
  int games = 0;
  int connections = 0;
  int threads = 0;
  double duration_s = 0;  // requests were offered for this long
  double elapsed_s = 0;   // including the drain
  flood_stats stats;
  bool metrics_available = false;
  std::string metrics_error;  // why not, when not
  prom_text metrics;          // counters as deltas over the run
  int healthz_at_end = 0;     // HTTP status, 0 = no answer
};

// Figures derived from the daemon's metrics, shared by both printers.
struct queue_figures {
  std::string queue;
  std::optional<double> wait_p50_s, wait_p99_s, deadline_misses, accepted, rejected, shed,
      coalesced, depth;
};
std::vector<queue_figures> queue_table(const prom_text& m);

void print_table(const run_report& r, std::ostream& out);
void print_json(const run_report& r, std::ostream& out);

}  // namespace orch::tools
