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
  std::string mode;  // "scenario" or "ingest"
  std::string target;
  std::string registry_note;
  int games = 0;
  int connections = 0;
  int threads = 0;
  double duration_s = 0;  // requests were offered for this long
  double elapsed_s = 0;   // including the drain
  flood_stats stats;
  bool metrics_available = false;
  std::string metrics_error;   // why not, when not
  prom_text metrics;           // counters as deltas over the run
  int healthz_at_end = 0;      // HTTP status, 0 = no answer
  std::size_t transcript = 0;  // exchanges to print at the end (--transcript N)
};

// The Letta-path figures of DESIGN 8 over the run; each is nullopt (n/a) when the daemon
// does not export the metric (an older daemon) or there is nothing to divide by.
struct letta_figures {
  bool exported = false;                           // the daemon exports any of these metrics at all
  std::optional<double> reply_p50_s, reply_p95_s;  // the daemon's own histogram (bucket bounds)
  std::optional<double> block_lag_p95_s;           // bucket upper bound
  std::optional<double> message, block_read, block_write, conversation, requests_total;
  std::optional<double> reads_skipped, prompt_tokens, completion_tokens;
  std::optional<double> requests_per_reply;     // message requests / npc_messages the flood saw
  std::optional<double> requests_per_snapshot;  // block and conversation requests / snapshot applied
  std::optional<double> tokens_per_reply;
};
letta_figures letta_table(const prom_text& m, const turn_stats& t);

// Up to n exchanges spread evenly over the transcript (first and last included), from the
// turns addressed to an NPC when there are any.
std::vector<exchange> pick_exchanges(const std::vector<exchange>& answered, std::size_t n);

// Figures derived from the daemon's metrics, shared by both printers.
struct queue_figures {
  std::string queue;
  std::optional<double> wait_p50_s, wait_p99_s, deadline_misses, accepted, rejected, shed, coalesced, depth;
};
std::vector<queue_figures> queue_table(const prom_text& m);

void print_table(const run_report& r, std::ostream& out);
void print_json(const run_report& r, std::ostream& out);

}  // namespace orch::tools
