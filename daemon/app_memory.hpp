#pragma once
// app_memory: the daemon's allocator settings and heap gauges (glibc malloc, DESIGN 9).
//
// apply_allocator_settings() caps malloc's arenas (`memory.arena_max`, mallopt(M_ARENA_MAX));
// call it before the io threads start. heap_monitor samples mallinfo2() every
// `memory.stats_interval_ms` into npcorch_heap_in_use_bytes (live allocations, mmapped chunks
// included) and npcorch_heap_free_bytes (free memory malloc keeps in its arenas: what a flood's
// peak leaves behind), and, when `memory.trim_interval_ms` > 0, gives free arena pages back to
// the kernel with malloc_trim(0) on that period (npcorch_malloc_trims_total, its duration in
// npcorch_malloc_trim_seconds).
//
// Ownership: the app owns one heap_monitor; it keeps references to the io_context and the
// metrics registry, which must outlive it. Thread-safety: start() once, stop() from any thread;
// the samples run as timer handlers on the io_context (mallinfo2 and malloc_trim take each
// arena's lock in turn, so a trim briefly delays allocations on other threads). How it fails:
// it cannot; outside glibc the gauges stay 0 and no trim runs.
#include <memory>

#include <boost/asio/io_context.hpp>

#include "common/metrics.hpp"
#include "daemon/config.hpp"

namespace orch::daemon {

// mallopt(M_ARENA_MAX) when arena_max > 0; returns false when the allocator refused it.
bool apply_allocator_settings(const memory_options& opts);

class heap_monitor {
 public:
  heap_monitor(boost::asio::io_context& io, const memory_options& opts, metrics::registry& m);
  ~heap_monitor();  // once no io thread runs
  heap_monitor(const heap_monitor&) = delete;
  heap_monitor& operator=(const heap_monitor&) = delete;

  void start();  // samples at once, then on its period
  void stop();   // cancels the timers; no sample or trim starts afterwards

  // One sample (and a trim when `trim`), as the timers do it; for tests.
  void sample_now(bool trim);

 private:
  struct state;
  std::shared_ptr<state> st_;
};

}  // namespace orch::daemon
