#include "daemon/app_memory.hpp"

#include <malloc.h>

#include <atomic>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

namespace orch::daemon {

namespace net = boost::asio;

bool apply_allocator_settings(const memory_options& opts) {
#if defined(__GLIBC__)
  if (opts.arena_max > 0) return mallopt(M_ARENA_MAX, static_cast<int>(opts.arena_max)) == 1;
#else
  (void)opts;
#endif
  return true;
}

// Owned by the monitor; a timer handler holds it weakly (a late one finds it gone), stop()'s
// posted cancel strongly.
struct heap_monitor::state {
  state(net::io_context& io, const memory_options& o, metrics::registry& m)
      : opts(o),
        strand(net::make_strand(io)),
        stats_timer(strand),
        trim_timer(strand),
        in_use(m.get_gauge("npcorch_heap_in_use_bytes",
                           "Bytes malloc has handed out and not yet had back (mallinfo2: uordblks + hblkhd)")),
        free_bytes(m.get_gauge("npcorch_heap_free_bytes",
                               "Free bytes malloc keeps in its arenas (mallinfo2 fordblks): retained, not live")),
        trims(m.get_counter("npcorch_malloc_trims_total", "malloc_trim(0) runs (memory.trim_interval_ms)")),
        trim_seconds(m.get_histogram("npcorch_malloc_trim_seconds", "Duration of one malloc_trim(0) run")) {}

  void sample(bool trim) {
#if defined(__GLIBC__)
    if (trim) {
      const auto t0 = std::chrono::steady_clock::now();
      malloc_trim(0);
      trim_seconds.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      trims.inc();
    }
    const struct mallinfo2 mi = mallinfo2();
    in_use.set(static_cast<double>(mi.uordblks + mi.hblkhd));
    free_bytes.set(static_cast<double>(mi.fordblks));
#else
    (void)trim;
#endif
  }

  static void arm(const std::shared_ptr<state>& st, net::steady_timer& t, std::chrono::milliseconds every, bool trim) {
    t.expires_after(every);
    t.async_wait([w = std::weak_ptr<state>(st), &t, every, trim](boost::system::error_code ec) {
      auto s = w.lock();
      if (ec || !s || s->stopped.load()) return;
      s->sample(trim);
      arm(s, t, every, trim);
    });
  }

  memory_options opts;
  net::strand<net::io_context::executor_type> strand;  // the timers' handlers and stop()'s cancel
  net::steady_timer stats_timer;
  net::steady_timer trim_timer;
  metrics::gauge& in_use;
  metrics::gauge& free_bytes;
  metrics::counter& trims;
  metrics::histogram& trim_seconds;
  std::atomic<bool> stopped{false};
};

heap_monitor::heap_monitor(net::io_context& io, const memory_options& opts, metrics::registry& m)
    : st_(std::make_shared<state>(io, opts, m)) {}

// After the io threads: the timers go with the state and their waits end aborted (a queued
// handler finds the state gone). Nothing is posted to an io_context that may be stopped.
heap_monitor::~heap_monitor() { st_->stopped.store(true); }

void heap_monitor::start() {
  st_->sample(false);
  if (st_->opts.stats_interval.count() > 0) state::arm(st_, st_->stats_timer, st_->opts.stats_interval, false);
  if (st_->opts.trim_interval.count() > 0) state::arm(st_, st_->trim_timer, st_->opts.trim_interval, true);
}

void heap_monitor::stop() {
  st_->stopped.store(true);
  net::post(st_->strand, [st = st_] {
    st->stats_timer.cancel();
    st->trim_timer.cancel();
  });
}

void heap_monitor::sample_now(bool trim) { st_->sample(trim); }

}  // namespace orch::daemon
