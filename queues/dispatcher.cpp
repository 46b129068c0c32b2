// The thread-safe shell around `scheduler`.
//
// submit() runs on any thread: a per-queue atomic gate makes the exact capacity decision,
// the message is stamped (accept_seq from one global atomic, arrival, deadline) and handed
// lock-free to the dispatcher context through a moodycamel queue. The dispatcher context is
// a strand: woken by an atomic flag (a burst of submits costs one post), it drains the
// inbox, sorts each drained batch by accept_seq (moodycamel is FIFO only per producer),
// feeds the scheduler and posts each started message to the io_context with a completion
// whose done() posts `complete` back to the strand. No thread ever waits for another.
//
// Lifetime: everything lives in a shared `core`; posted work holds it strongly, completions
// hold it weakly, so a completion that fires after the dispatcher is gone does nothing.
//
// Retry-After for a rejected submit: ceil(pending x mean service time / workers), clamped to
// 1..60 s, where pending counts the queue's queued + in-inbox messages and the mean service
// time (start -> done()) is an EWMA per queue (weight 1/8, 100 ms until first measured).
//
// Counting: `accepted_total` counts every submit that was not refused, including those later
// coalesced into an older message or shed; coalesced, shed and shutdown drops are counted
// and handed to the kind's drop handler (coalesced with the replaced, older payload).
#include "queues/dispatcher.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <iterator>
#include <mutex>
#include <utility>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>
#include <boost/asio/defer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "queues/scheduler.hpp"

namespace orch::queues {

namespace asio = boost::asio;

namespace {

constexpr std::size_t max_queues = 64;                    // reloads may add queues up to this
constexpr std::size_t drain_batch_limit = 8192;           // per strand pass, so completions interleave
constexpr std::int64_t initial_service_ns = 100'000'000;  // 100 ms until measured

// Lock-free per-queue state readable from any thread. Names and metric pointers are written
// once, before the queue's index is published through `queue_count`.
struct gate {
  std::string name;
  std::atomic<std::size_t> pending{0};  // in the inbox or queued in the scheduler
  std::atomic<std::size_t> capacity{0};
  std::atomic<bool> shed{false};
  std::atomic<std::int64_t> budget_ns{0};
  std::atomic<std::uint32_t> workers{1};
  std::atomic<std::int64_t> service_ns{initial_service_ns};  // EWMA of start -> complete
  std::atomic<std::size_t> depth{0};                         // mirrors of the scheduler, for depth()/in_flight()
  std::atomic<std::size_t> in_flight{0};

  metrics::counter* accepted = nullptr;
  metrics::counter* rejected = nullptr;
  metrics::counter* shed_total = nullptr;
  metrics::counter* coalesced = nullptr;
  metrics::counter* misses = nullptr;
  metrics::counter* dropped_shutdown = nullptr;
  metrics::counter* dropped_no_handler = nullptr;
  metrics::gauge* depth_g = nullptr;
  metrics::gauge* in_flight_g = nullptr;
  metrics::gauge* workers_g = nullptr;
  metrics::gauge* capacity_g = nullptr;
  metrics::histogram* wait = nullptr;

  void bind_metrics(metrics::registry& r) {
    const metrics::labels l{{"queue", name}};
    accepted = &r.get_counter("npcorch_queue_accepted_total", "Messages accepted by queue", l);
    rejected = &r.get_counter("npcorch_queue_rejected_total", "Messages refused (429) by queue", l);
    shed_total = &r.get_counter("npcorch_queue_shed_total", "Oldest messages shed on overflow", l);
    coalesced = &r.get_counter("npcorch_queue_coalesced_total", "Messages merged into a queued one", l);
    misses = &r.get_counter("npcorch_queue_deadline_misses_total", "Messages started after their deadline", l);
    dropped_shutdown = &r.get_counter("npcorch_queue_dropped_total", "Accepted messages dropped unworked",
                                      {{"queue", name}, {"reason", "shutdown"}});
    dropped_no_handler = &r.get_counter("npcorch_queue_dropped_total", "Accepted messages dropped unworked",
                                        {{"queue", name}, {"reason", "no_handler"}});
    depth_g = &r.get_gauge("npcorch_queue_depth", "Messages queued, not started", l);
    in_flight_g = &r.get_gauge("npcorch_queue_in_flight", "Messages being worked on", l);
    workers_g = &r.get_gauge("npcorch_queue_workers", "Worker slots", l);
    capacity_g = &r.get_gauge("npcorch_queue_capacity", "Queue capacity", l);
    wait = &r.get_histogram("npcorch_queue_wait_seconds", "Wait from arrival to start of work", l,
                            metrics::latency_buckets());
  }

  void apply(const queue_config& c) {
    capacity.store(c.capacity);
    shed.store(c.overflow == overflow_policy::shed_oldest);
    budget_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(c.max_latency).count());
    workers.store(c.workers);
    workers_g->set(static_cast<double>(c.workers));
    capacity_g->set(static_cast<double>(c.capacity));
  }
};

}  // namespace

struct dispatcher::impl {
  struct core : std::enable_shared_from_this<core> {
    core(asio::io_context& io_, queues_config cfg_in, const policies::clock& clk, timer_service& t,
         std::shared_ptr<timer_service> own_t, metrics::registry& m)
        : io(io_),
          strand(asio::make_strand(io_)),
          clock(clk),
          own_timers(std::move(own_t)),
          timers(t),
          metrics(m),
          sched(cfg_in),
          cfg(sched.config()) {
      reloads = &m.get_counter("npcorch_dispatcher_reloads_total", "Queue configuration reloads applied");
      handler_errors = &m.get_counter("npcorch_dispatcher_handler_exceptions_total",
                                      "Work or drop handlers that threw (caught and counted; the io thread carries on)",
                                      {{"handler", "work"}});
      drop_handler_errors = &m.get_counter(
          "npcorch_dispatcher_handler_exceptions_total",
          "Work or drop handlers that threw (caught and counted; the io thread carries on)", {{"handler", "drop"}});
      publish_gates(cfg, 0);
    }

    // Called with cfg_mu held (or from the constructor).
    void publish_gates(const queues_config& c, std::size_t old_count) {
      for (std::size_t i = 0; i < c.queues.size(); ++i) {
        if (i >= old_count) {
          gates[i].name = c.queues[i].name;
          gates[i].bind_metrics(metrics);
        }
        gates[i].apply(c.queues[i]);
      }
      queue_count.store(c.queues.size());
      for (std::size_t k = 0; k < message_kind_count; ++k) routes[k].store(c.routes[k]);
    }

    // ---- any thread ----
    // defer, not post: the drain (and, below, a started message) is a continuation of what the
    // calling io thread is doing. It waits in that thread's own queue until the current handler
    // returns, then joins the shared queue without waking another thread, so the same thread
    // usually runs it (walking ingest: ~2.5 % less CPU per snapshot, twelve simultaneous A/B
    // pairs). Callers submit or complete at the end of their handlers (snapshot_worker::handle
    // calls done() last), so nothing waits behind long work. From a thread outside the
    // io_context it is a post.
    void kick() {
      if (!scheduled.exchange(true)) asio::defer(strand, [self = shared_from_this()] { self->drain_inbox(); });
    }

    std::chrono::seconds retry_after(const gate& g) const {
      // Time for the queue ahead to be worked off: depth x mean service time / workers.
      const double secs = static_cast<double>(g.pending.load()) * static_cast<double>(g.service_ns.load()) / 1e9 /
                          static_cast<double>(std::max<std::uint32_t>(g.workers.load(), 1));
      const auto s = static_cast<std::int64_t>(std::ceil(secs));
      return std::chrono::seconds(std::clamp<std::int64_t>(s, 1, 60));
    }

    // ---- strand only ----
    void drain_inbox() {
      scheduled.store(false);  // before dequeuing: a submit racing with us posts again
      take_completions();      // free slots and keys first
      batch.clear();
      while (batch.size() < drain_batch_limit && inbox.try_dequeue_bulk(std::back_inserter(batch), 256) > 0) {}
      if (batch.size() >= drain_batch_limit) kick();
      // A reload's routes are visible to submit only after `cfg_dirty` is set, so checking
      // here (after dequeuing) gives the scheduler every queue a message may name.
      if (cfg_dirty.exchange(false)) {
        std::lock_guard lk(cfg_mu);
        std::string error;
        sched.reconfigure(cfg, error);
      }
      std::sort(batch.begin(), batch.end(),
                [](const message& a, const message& b) { return a.accept_seq < b.accept_seq; });
      for (auto& m : batch) {
        const std::size_t q_in = m.queue;
        auto r = sched.push(std::move(m), admission::reserved);
        if (r.status == push_status::accepted) continue;
        auto& g = gates[r.queue];
        if (r.status == push_status::coalesced) {
          // The older message stays queued with the new payload: the newcomer's place goes.
          g.coalesced->inc();
          gates[q_in].pending.fetch_sub(1);
          hand_to_drop(std::move(*r.dropped), drop_reason::coalesced);
        } else if (r.status == push_status::shed) {
          g.shed_total->inc();
          gates[r.dropped->queue].pending.fetch_sub(1);
          hand_to_drop(std::move(*r.dropped), drop_reason::shed);
        }
      }
      batch.clear();
      dispatch();
    }

    void dispatch() {
      const auto now = clock.now();
      while (auto m = sched.next(now)) start(std::move(*m), now);
      refresh_gauges();
      check_drain();
    }

    void start(message m, policies::time_point now) {
      auto& g = gates[m.queue];
      g.pending.fetch_sub(1);
      g.wait->observe(std::chrono::duration<double>(now - m.arrival).count());
      if (now > m.deadline) g.misses->inc();
      const auto k = static_cast<std::size_t>(m.kind);
      // Completions travel like submits: a lock-free hand-off plus (at most) one strand post
      // per burst, instead of one post per completed message.
      completion comp([w = weak_from_this(), q = m.queue, key = m.key, now] {
        // Not once the dispatcher is gone: a completion destroyed with the io_context's
        // pending handlers (at exit) must not post to it.
        if (auto self = w.lock(); self && !self->closed.load()) {
          self->completions.enqueue(done_item{q, key, now});
          self->kick();
        }
      });
      if (!handlers[k]) {
        g.dropped_no_handler->inc();
        return;  // `comp` completes on scope exit
      }
      asio::defer(io, [self = shared_from_this(), k, m = std::move(m), comp = std::move(comp)]() mutable {
        if (self->closed.load()) return;  // the dispatcher is gone: its workers may be too
        try {
          self->handlers[k](std::move(m), std::move(comp));
        } catch (...) {
          // Data path: a throwing handler must not take the io thread down; its completion
          // (moved into the handler) has already freed the slot during unwinding.
          self->handler_errors->inc();
        }
      });
    }

    void take_completions() {
      done_batch.clear();
      while (completions.try_dequeue_bulk(std::back_inserter(done_batch), 256) > 0) {}
      if (done_batch.empty()) return;
      const auto now = clock.now();
      for (auto& d : done_batch) {
        sched.complete(d.queue, d.key);
        auto& g = gates[d.queue];
        const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(now - d.started).count();
        const auto prev = g.service_ns.load();
        g.service_ns.store(prev - prev / 8 + std::max<std::int64_t>(took, 0) / 8);
      }
      done_batch.clear();
    }

    void hand_to_drop(message m, drop_reason why) {
      const auto k = static_cast<std::size_t>(m.kind);
      if (!drop_handlers[k]) return;
      asio::post(io, [self = shared_from_this(), k, m = std::move(m), why]() mutable {
        if (self->closed.load()) return;
        try {
          self->drop_handlers[k](std::move(m), why);
        } catch (...) {
          self->drop_handler_errors->inc();  // the message is dropped either way
        }
      });
    }

    void refresh_gauges() {
      for (std::size_t i = 0; i < sched.queue_count(); ++i) {
        const auto& st = sched.stats(i);
        gates[i].depth.store(st.depth);
        gates[i].in_flight.store(st.in_flight);
        gates[i].depth_g->set(static_cast<double>(st.depth));
        gates[i].in_flight_g->set(static_cast<double>(st.in_flight));
      }
    }

    bool idle() const {
      for (std::size_t i = 0; i < queue_count.load(); ++i)
        if (gates[i].pending.load() != 0) return false;
      return sched.in_flight() == 0;
    }

    void check_drain() {
      if (!drain_done || !idle()) return;
      finish_drain(true);
    }

    void finish_drain(bool ok) {
      if (drain_timer != 0) timers.cancel(std::exchange(drain_timer, 0));
      auto done = std::move(drain_done);
      drain_done = nullptr;
      if (done) asio::post(io, [done = std::move(done), ok] { done(ok); });
    }

    void start_drain(policies::duration timeout, std::function<void(bool)> done) {
      if (drain_done) finish_drain(false);  // a second drain replaces the first
      drain_done = std::move(done);
      const auto gen = ++drain_generation;
      const auto now = clock.now();
      // The timer service may call back on any thread (the manual one on the test's): hop
      // onto the strand. The generation makes a wake-up for a replaced drain a no-op.
      drain_timer = timers.schedule(now + timeout, now, [w = weak_from_this(), gen] {
        if (auto self = w.lock())
          asio::post(self->strand, [self, gen] {
            if (gen == self->drain_generation) self->drain_timed_out();
          });
      });
      check_drain();
    }

    void drain_timed_out() {
      drain_timer = 0;  // it fired: nothing to cancel
      if (!drain_done) return;
      drain_inbox();  // pull stragglers into the scheduler so they are dropped, not lost
      if (!drain_done) return;
      for (auto& m : sched.drop_all()) {
        auto& g = gates[m.queue];
        g.pending.fetch_sub(1);
        g.dropped_shutdown->inc();
        hand_to_drop(std::move(m), drop_reason::shutdown);
      }
      refresh_gauges();
      finish_drain(false);
    }

    asio::io_context& io;
    asio::strand<asio::io_context::executor_type> strand;
    const policies::clock& clock;
    std::shared_ptr<timer_service> own_timers;  // set when the dispatcher brought its own
    timer_service& timers;
    metrics::registry& metrics;

    std::array<gate, max_queues> gates;
    std::atomic<std::size_t> queue_count{0};
    std::array<std::atomic<std::size_t>, message_kind_count> routes{};
    std::atomic<std::uint64_t> seq{0};
    std::atomic<bool> accepting{true};
    std::atomic<bool> scheduled{false};
    std::atomic<bool> cfg_dirty{false};
    std::atomic<bool> closed{false};  // set by ~dispatcher: posted handlers no longer run
    moodycamel::ConcurrentQueue<message> inbox;
    struct done_item {
      std::size_t queue = 0;
      std::string key;
      policies::time_point started{};
    };
    moodycamel::ConcurrentQueue<done_item> completions;
    std::array<handler, message_kind_count> handlers;
    std::array<drop_handler, message_kind_count> drop_handlers;
    metrics::counter* reloads = nullptr;
    metrics::counter* handler_errors = nullptr;
    metrics::counter* drop_handler_errors = nullptr;

    // strand only
    scheduler sched;
    std::vector<message> batch;
    std::vector<done_item> done_batch;
    std::function<void(bool)> drain_done;
    timer_id drain_timer = 0;            // the pending drain timeout, 0 when none
    std::uint64_t drain_generation = 0;  // which drain a timeout belongs to

    mutable std::mutex cfg_mu;  // guards cfg (the merged config) for reload()/config()
    queues_config cfg;
  };

  std::shared_ptr<core> c;
};

dispatcher::dispatcher(asio::io_context& io, queues_config cfg, const policies::clock& clock, timer_service& timers,
                       metrics::registry& metrics)
    : impl_(std::make_unique<impl>()) {
  impl_->c = std::make_shared<impl::core>(io, std::move(cfg), clock, timers, nullptr, metrics);
}

dispatcher::dispatcher(asio::io_context& io, queues_config cfg, const policies::clock& clock,
                       metrics::registry& metrics)
    : impl_(std::make_unique<impl>()) {
  auto own = std::make_shared<asio_timer_service>(io);
  auto& timers = *own;
  impl_->c = std::make_shared<impl::core>(io, std::move(cfg), clock, timers, std::move(own), metrics);
}

// Work already posted keeps the core alive but no longer calls handlers; queued messages are
// discarded with it (the app drains before destroying the dispatcher).
dispatcher::~dispatcher() {
  impl_->c->closed.store(true);
  impl_->c->accepting.store(false);
}

void dispatcher::set_handler(message_kind k, handler h) {
  impl_->c->handlers[static_cast<std::size_t>(k)] = std::move(h);
}

void dispatcher::set_drop_handler(message_kind k, drop_handler h) {
  impl_->c->drop_handlers[static_cast<std::size_t>(k)] = std::move(h);
}

void dispatcher::start() { impl_->c->kick(); }

submit_result dispatcher::submit(message m) {
  auto& c = *impl_->c;
  submit_result r;
  r.queue = c.routes[static_cast<std::size_t>(m.kind)].load();
  auto& g = c.gates[r.queue];
  r.queue_name = g.name;
  if (!c.accepting.load()) {
    r.status = submit_status::stopped;
    return r;
  }
  // Exact gate: reserve a place first, give it back when over the limit. `reject` queues
  // count queued + in-inbox against capacity; `shed_oldest` queues accept (the scheduler
  // sheds) unless the inbox itself runs past twice the capacity.
  const std::size_t cap = g.capacity.load();
  const std::size_t limit = g.shed.load() ? 2 * cap : cap;
  if (g.pending.fetch_add(1) >= limit) {
    g.pending.fetch_sub(1);
    g.rejected->inc();
    r.status = submit_status::rejected;
    r.retry_after = c.retry_after(g);
    return r;
  }
  m.queue = r.queue;
  m.accept_seq = c.seq.fetch_add(1) + 1;
  m.arrival = c.clock.now();
  m.deadline = m.arrival + std::chrono::duration_cast<policies::duration>(std::chrono::nanoseconds(g.budget_ns.load()));
  g.accepted->inc();
  c.inbox.enqueue(std::move(m));
  c.kick();
  return r;
}

void dispatcher::count_coalesced(message_kind k) {
  auto& c = *impl_->c;
  auto& g = c.gates[c.routes[static_cast<std::size_t>(k)].load()];
  g.accepted->inc();
  g.coalesced->inc();
}

bool dispatcher::reload(const queues_config& next, std::string& error) {
  auto& c = *impl_->c;
  std::lock_guard lk(c.cfg_mu);
  queues_config merged;
  if (!scheduler::merge_config(c.cfg, next, merged, error)) return false;
  if (merged.queues.size() > max_queues) {
    error = "queues: at most ";
    error += std::to_string(max_queues);
    error += " queues";
    return false;
  }
  const std::size_t old_count = c.cfg.queues.size();
  c.cfg = std::move(merged);
  c.cfg_dirty.store(true);  // before the routes: see drain_inbox
  c.publish_gates(c.cfg, old_count);
  c.reloads->inc();
  c.scheduled.store(true);
  asio::post(c.strand, [self = c.shared_from_this()] { self->drain_inbox(); });  // apply now
  return true;
}

void dispatcher::stop_accepting() { impl_->c->accepting.store(false); }

void dispatcher::drain(policies::duration timeout, std::function<void(bool drained)> done) {
  auto self = impl_->c;
  asio::post(self->strand,
             [self, timeout, done = std::move(done)]() mutable { self->start_drain(timeout, std::move(done)); });
}

std::size_t dispatcher::depth(std::size_t queue) const {
  return queue < impl_->c->queue_count.load() ? impl_->c->gates[queue].depth.load() : 0;
}

std::size_t dispatcher::in_flight(std::size_t queue) const {
  return queue < impl_->c->queue_count.load() ? impl_->c->gates[queue].in_flight.load() : 0;
}

queues_config dispatcher::config() const {
  std::lock_guard lk(impl_->c->cfg_mu);
  return impl_->c->cfg;
}

}  // namespace orch::queues
