#include "workers/call_scheduler.hpp"

#include <algorithm>
#include <random>

namespace orch::workers {

using policies::duration;
using policies::time_point;

namespace {

std::uint64_t seed_or_random(std::uint64_t s) {
  if (s != 0) return s;
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

// Reply calls that found their lane busy, by the class of the call in it (looked up once).
metrics::counter& behind_counter(metrics::registry& m, const std::string& prefix, const char* cls) {
  return m.get_counter(prefix + "replies_behind_total",
                       "Reply calls that found their lane busy, by the class of the call in it", {{"class", cls}});
}

double sync_rate(const scheduler_options& o) { return o.global_per_s * std::clamp(o.sync_share, 0.0, 1.0); }

}  // namespace

call_scheduler::call_scheduler(scheduler_options opts, const policies::clock& clock, timer_service& timers,
                               metrics::registry& m)
    : opts_(std::move(opts)),
      clock_(clock),
      timers_(timers),
      metrics_(m),
      gate_(opts_.gate ? opts_.gate
                       : std::make_shared<local_rate_gate>(rate_limits{opts_.global_per_s, opts_.global_burst,
                                                                       opts_.per_agent_per_s, opts_.per_agent_burst},
                                                           clock.now())),
      sync_bucket_(sync_rate(opts_), std::max(1.0, opts_.global_burst * std::clamp(opts_.sync_share, 0.0, 1.0)),
                   clock.now()),
      breaker_(opts_.breaker_failure_threshold, opts_.breaker_open),
      jitter_(seed_or_random(opts_.jitter_seed)),
      retries_(m.get_counter(opts_.metric_prefix + "retries_total", "Request attempts that were retries")),
      in_flight_gauge_(m.get_gauge(opts_.metric_prefix + "in_flight", "Requests in flight")),
      extra_requests_(m.get_counter(opts_.metric_prefix + "extra_requests_total",
                                    "Requests an attempt made beyond its own (charged to the global rate)")),
      rate_waits_(
          m.get_counter(opts_.metric_prefix + "rate_limited_waits_total", "Requests that waited for a rate limit")),
      replies_behind_{&behind_counter(m, opts_.metric_prefix, "reply"), &behind_counter(m, opts_.metric_prefix, "npc"),
                      &behind_counter(m, opts_.metric_prefix, "sync")},
      sync_share_waits_(m.get_counter(opts_.metric_prefix + "sync_share_waits_total",
                                      "Syncs held back by the sync share while replies waited")),
      breaker_gauge_(
          m.get_gauge(opts_.metric_prefix + "breaker_state", "Circuit breaker: 0 closed, 1 open, 2 half-open")),
      dropped_at_stop_(m.get_counter(opts_.metric_prefix + "calls_dropped_at_stop_total",
                                     "Calls unfinished when the client stopped at exit, dropped uncalled")) {
  breaker_gauge_.set(0);
}

void call_scheduler::run(actions& acts) {
  for (auto& a : acts) a();
  acts.clear();
}

void call_scheduler::submit(call_spec spec) {
  actions acts;
  {
    std::lock_guard lk(mu_);
    if (stopped_) {
      dropped_at_stop_.inc();
      return;  // the spec and what its callbacks hold are released after the lock
    }
    if (!gate_waker_set_) {  // the gate answers later (shared limits): it pumps us then
      gate_waker_set_ = true;
      gate_->set_waker([weak = weak_from_this()] {
        if (auto self = weak.lock()) self->wake_from_gate();
      });
    }
    const time_point now = clock_.now();
    auto& l = lanes_[spec.lane];
    if (l.pending.size() >= opts_.max_pending_per_lane) {
      const std::string name = spec.lane;
      acts.push_back([finish = std::move(spec.finish)] { finish("overloaded", 0); });
      if (!l.current && l.pending.empty()) lanes_.erase(name);
    } else {
      if (spec.cls == call_class::reply && l.current) replies_behind_[static_cast<int>(l.current->spec.cls)]->inc();
      auto it = std::make_shared<item>();
      it->seq = next_seq_++;
      it->spec = std::move(spec);
      if (it->spec.cls != call_class::sync) ++urgent_queued_;
      const std::string name = it->spec.lane;
      l.pending.emplace(std::make_pair(static_cast<std::uint8_t>(it->spec.cls), it->seq), it);
      refresh_locked(name, l);
      pump_locked(now, acts);
    }
  }
  run(acts);
}

void call_scheduler::stop() {
  std::unordered_map<std::string, lane_state> dropped;
  {
    std::lock_guard lk(mu_);
    if (stopped_) return;
    stopped_ = true;
    for (const auto& [name, l] : lanes_) dropped_at_stop_.inc(l.pending.size() + (l.current ? 1 : 0));
    dropped.swap(lanes_);
    ready_.clear();
    urgent_queued_ = 0;
  }
  // `dropped` goes out of scope here, outside the lock: the calls' callbacks may own the
  // client that owns this scheduler, so they are released, never called.
}

void call_scheduler::charge(std::uint32_t requests) {
  std::lock_guard lk(mu_);
  gate_->charge(rate_scope::global, {}, clock_.now(), requests);
  extra_requests_.inc(requests);
}

call_scheduler::item_ptr call_scheduler::head_locked(lane_state& l) const {
  if (l.current) return l.current_ready ? l.current : nullptr;
  if (l.pending.empty()) return nullptr;
  return l.pending.begin()->second;
}

void call_scheduler::refresh_locked(const std::string& name, lane_state& l) {
  if (l.ready) {
    ready_.erase(*l.ready);
    l.ready.reset();
  }
  if (auto h = head_locked(l)) {
    l.ready = ready_key{static_cast<std::uint8_t>(h->spec.cls), h->seq, name};
    ready_.insert(*l.ready);
  }
}

void call_scheduler::take_head_locked(lane_state& l, const item_ptr& it) {
  if (l.current == it) {
    l.current_ready = false;
    return;
  }
  l.pending.erase({static_cast<std::uint8_t>(it->spec.cls), it->seq});
  if (it->spec.cls != call_class::sync && urgent_queued_ > 0) --urgent_queued_;
  l.current = it;
  l.current_ready = false;
}

void call_scheduler::wake_from_gate() {
  actions acts;
  {
    std::lock_guard lk(mu_);
    pump_locked(clock_.now(), acts);
  }
  run(acts);
}

bool call_scheduler::sync_must_wait_locked(time_point now, duration& wait) const {
  if (urgent_queued_ == 0 || opts_.sync_share >= 1.0 || gate_->unlimited(rate_scope::global)) return false;
  if (opts_.sync_share <= 0) {
    wait = duration::max();  // only when the urgent work has started
    return true;
  }
  wait = sync_bucket_.wait_time(now);
  return wait > duration::zero();
}

void call_scheduler::track_breaker_locked(std::uint64_t transitions_before, time_point now) {
  if (breaker_.transitions() == transitions_before) return;
  const policies::breaker_state s = breaker_.state(now);
  breaker_gauge_.set(static_cast<double>(static_cast<int>(s)));
  metrics_
      .get_counter(opts_.metric_prefix + "breaker_transitions_total", "Circuit breaker transitions",
                   {{"to", policies::to_string(s)}})
      .inc();
}

void call_scheduler::wake_at_locked(time_point t, time_point now) {
  if (wake_at_ && *wake_at_ <= t && *wake_at_ > now) return;  // an earlier wake is set
  wake_at_ = t;
  std::weak_ptr<call_scheduler> weak = weak_from_this();
  timers_.schedule(t, now, [weak, t] {
    auto self = weak.lock();
    if (!self) return;
    actions acts;
    {
      std::lock_guard lk(self->mu_);
      if (self->wake_at_ == t) self->wake_at_.reset();
      self->pump_locked(self->clock_.now(), acts);
    }
    run(acts);
  });
}

void call_scheduler::pump_locked(time_point now, actions& out) {
  auto it = ready_.begin();
  while (it != ready_.end() && in_flight_ < opts_.max_in_flight) {
    const std::string name = std::get<2>(*it);
    lane_state& l = lanes_.at(name);
    item_ptr c = head_locked(l);
    if (breaker_.state(now) == policies::breaker_state::open) {
      if (!c->blocked_since) c->blocked_since = now;
      if (now - *c->blocked_since >= opts_.breaker_wait) {
        if (l.current != c) take_head_locked(l, c);
        finish_locked(name, l, c, "breaker_open", out);
        it = ready_.begin();  // the set changed: rescan
        continue;
      }
      wake_at_locked(std::min(breaker_.reopen_at(), *c->blocked_since + opts_.breaker_wait), now);
      ++it;
      continue;
    }
    if (const duration gw = gate_->wait_time(rate_scope::global, {}, now); gw > duration::zero()) {
      if (!c->counted_wait) {
        c->counted_wait = true;
        rate_waits_.inc();
      }
      if (gw != rate_gate::pending) wake_at_locked(now + gw, now);  // else the gate wakes us
      break;  // nothing else may start before the global limit allows
    }
    duration sync_wait{};
    if (c->spec.cls == call_class::sync && sync_must_wait_locked(now, sync_wait)) {
      if (!c->counted_wait) {
        c->counted_wait = true;
        sync_share_waits_.inc();
      }
      if (sync_wait != duration::max()) wake_at_locked(now + sync_wait, now);
      ++it;
      continue;
    }
    if (c->spec.agent_rate) {
      if (const duration aw = gate_->wait_time(rate_scope::agent, c->spec.agent, now); aw > duration::zero()) {
        if (!c->counted_wait) {
          c->counted_wait = true;
          rate_waits_.inc();
        }
        if (aw != rate_gate::pending) wake_at_locked(now + aw, now);
        ++it;
        continue;
      }
    }
    const std::uint64_t transitions = breaker_.transitions();
    const bool allowed = breaker_.allow(now);  // may move a due open breaker to half-open
    track_breaker_locked(transitions, now);
    if (!allowed) {  // half-open with its probe out: wait for the probe's answer
      ++it;
      continue;
    }
    gate_->take(rate_scope::global, {}, now);
    if (c->spec.cls == call_class::sync) sync_bucket_.try_acquire(now);
    if (c->spec.agent_rate) gate_->take(rate_scope::agent, c->spec.agent, now);
    start_locked(name, l, c, now, out);
    it = ready_.begin();  // the set changed: rescan from the best
  }
}

void call_scheduler::start_locked(const std::string& name, lane_state& l, const item_ptr& c, time_point now,
                                  actions& out) {
  (void)now;
  take_head_locked(l, c);
  refresh_locked(name, l);
  ++c->attempts;
  if (c->attempts > 1) retries_.inc();
  c->counted_wait = false;
  c->blocked_since.reset();
  ++in_flight_;
  ++l.in_flight;
  max_in_flight_seen_ = std::max(max_in_flight_seen_, in_flight_);
  max_lane_concurrency_ = std::max(max_lane_concurrency_, l.in_flight);
  in_flight_gauge_.set(in_flight_);
  out.push_back([self = shared_from_this(), name, c] {
    c->spec.attempt([self, name, c](attempt_result r) { self->on_done(name, c, std::move(r)); });
  });
}

void call_scheduler::on_done(const std::string& name, const item_ptr& c, attempt_result r) {
  actions acts;
  {
    std::lock_guard lk(mu_);
    if (stopped_) return;  // stop() dropped the call with its lane
    const time_point now = clock_.now();
    lane_state& l = lanes_.at(name);
    --in_flight_;
    --l.in_flight;
    in_flight_gauge_.set(in_flight_);
    const std::uint64_t transitions = breaker_.transitions();
    if (r.server_failure)
      breaker_.on_failure(now);
    else
      breaker_.on_success(now);
    track_breaker_locked(transitions, now);

    if (!r.ok && r.retryable && policies::may_retry(opts_.backoff, c->attempts)) {
      const auto delay = policies::backoff_delay(opts_.backoff, c->attempts, jitter_.next(), r.retry_after);
      std::weak_ptr<call_scheduler> weak = weak_from_this();
      timers_.schedule(now + delay, now, [weak, name, c] {
        auto self = weak.lock();
        if (!self) return;
        actions later;
        {
          std::lock_guard lk2(self->mu_);
          auto& lane = self->lanes_.at(name);
          if (lane.current == c) {
            // A retry queues again behind the calls of its class that arrived meanwhile, so
            // a fault storm is spread over calls instead of exhausting the oldest one.
            c->seq = self->next_seq_++;
            lane.current_ready = true;
            self->refresh_locked(name, lane);
          }
          self->pump_locked(self->clock_.now(), later);
        }
        run(later);
      });
    } else {
      finish_locked(name, l, c, r.ok ? "" : "failed", acts);
    }
    pump_locked(now, acts);
  }
  run(acts);
}

void call_scheduler::finish_locked(const std::string& name, lane_state& l, const item_ptr& c, std::string error,
                                   actions& out) {
  if (l.current == c) {
    l.current.reset();
    l.current_ready = false;
  }
  refresh_locked(name, l);
  if (!l.current && l.pending.empty() && l.in_flight == 0) lanes_.erase(name);
  out.push_back([c, error = std::move(error)] { c->spec.finish(error, c->attempts); });
}

std::uint32_t call_scheduler::in_flight() const {
  std::lock_guard lk(mu_);
  return in_flight_;
}
std::uint32_t call_scheduler::max_in_flight_seen() const {
  std::lock_guard lk(mu_);
  return max_in_flight_seen_;
}
std::uint32_t call_scheduler::max_lane_concurrency() const {
  std::lock_guard lk(mu_);
  return max_lane_concurrency_;
}
std::size_t call_scheduler::lanes() const {
  std::lock_guard lk(mu_);
  return lanes_.size();
}
policies::breaker_state call_scheduler::breaker_state() const {
  std::lock_guard lk(mu_);
  return breaker_.state(clock_.now());
}

}  // namespace orch::workers
