#include "workers/letta_discipline.hpp"

#include <algorithm>
#include <cstdio>

#include <boost/asio/post.hpp>

#include "workers/letta_codec.hpp"

namespace orch::workers {

namespace asio = boost::asio;

using policies::time_point;

discipline_options discipline_options::from(const letta_options& o) {
  discipline_options d;
  d.max_in_flight = std::max<std::uint32_t>(1, o.max_in_flight);
  d.global_per_s = o.global_per_s;
  d.global_burst = o.global_burst;
  d.per_agent_per_s = o.per_agent_per_s;
  d.per_agent_burst = std::max(1.0, o.per_agent_per_s);
  d.backoff.base = o.retry_base;
  d.backoff.max = o.retry_max;
  d.backoff.max_attempts = std::max<std::uint32_t>(1, o.retry_max_attempts);
  d.breaker_failure_threshold = o.breaker_failure_threshold;
  d.breaker_open = o.breaker_open;
  d.breaker_wait = o.timeout;
  return d;
}

static std::uint64_t seed_or_random(std::uint64_t s) {
  if (s != 0) return s;
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

letta_discipline::letta_discipline(asio::io_context& io, std::shared_ptr<letta_transport> transport,
                                   discipline_options opts, const policies::clock& clock,
                                   queues::registry& metrics)
    : io_(io),
      transport_(std::move(transport)),
      opts_(opts),
      clock_(clock),
      metrics_(metrics),
      global_(opts.global_per_s, opts.global_burst, clock.now()),
      breaker_(opts.breaker_failure_threshold, opts.breaker_open),
      jitter_(seed_or_random(opts.jitter_seed)),
      otid_rng_(seed_or_random(opts.jitter_seed == 0 ? 0 : opts.jitter_seed + 1)),
      wake_timer_(io),
      retries_(metrics.get_counter("npcorch_letta_retries_total", "Letta request attempts that were retries")),
      in_flight_gauge_(metrics.get_gauge("npcorch_letta_in_flight", "Letta requests in flight")),
      rate_waits_(metrics.get_counter("npcorch_letta_rate_limited_waits_total",
                                      "Letta requests that waited for a rate limit")),
      breaker_gauge_(metrics.get_gauge("npcorch_letta_breaker_state",
                                       "Letta circuit breaker: 0 closed, 1 open, 2 half-open")),
      latency_(metrics.get_histogram("npcorch_letta_latency_seconds", "Latency of one Letta request")) {
  breaker_gauge_.set(0);
}

void letta_discipline::run(actions& acts) {
  for (auto& a : acts) a();
  acts.clear();
}

std::string letta_discipline::new_otid_locked() {
  // uuid4 layout from a seeded 64-bit generator: unique per client in practice, and
  // recognisable in Letta's logs.
  const std::uint64_t a = otid_rng_(), b = otid_rng_();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

// ---- public calls: build the request, decide how a final response becomes a result ----

void letta_discipline::send_messages(const std::string& agent_id, std::vector<letta_message> messages,
                                     reply_fn cb) {
  {
    std::lock_guard lk(mu_);
    for (auto& m : messages)
      if (m.otid.empty()) m.otid = new_otid_locked();
  }
  transport_request req{letta_endpoint::messages, "POST", messages_target(agent_id),
                        build_messages_body(messages), agent_id, {}};
  submit(std::move(req), [this, cb = std::move(cb)](letta_result res, transport_response r) {
    letta_reply reply;
    if (res.ok && !parse_letta_response(r.body, reply)) {
      res.ok = false;
      res.error = "bad_response";
      metrics_.get_counter("npcorch_letta_failures_total", "Letta calls that finally failed",
                           {{"reason", "bad_response"}}).inc();
    }
    asio::post(io_, [cb, res, reply = std::move(reply)]() mutable { cb(res, std::move(reply)); });
  });
}

void letta_discipline::get_block(const std::string& agent_id, const std::string& label, block_fn cb) {
  transport_request req{letta_endpoint::block_get, "GET", block_target(agent_id, label), {}, agent_id, label};
  submit(std::move(req), [this, cb = std::move(cb)](letta_result res, transport_response r) {
    std::string value;
    if (res.ok) {
      if (auto v = parse_block_value(r.body)) {
        value = std::move(*v);
      } else {
        res.ok = false;
        res.error = "bad_response";
      }
    }
    asio::post(io_, [cb, res, value = std::move(value)]() mutable { cb(res, std::move(value)); });
  });
}

void letta_discipline::update_block(const std::string& agent_id, const std::string& label,
                                    std::string value, done_fn cb) {
  transport_request req{letta_endpoint::block_update, "PATCH", block_target(agent_id, label),
                        build_block_update_body(value), agent_id, label};
  submit(std::move(req), [this, cb = std::move(cb)](letta_result res, transport_response) {
    asio::post(io_, [cb, res] { cb(res); });
  });
}

void letta_discipline::get_agent(const std::string& agent_id, done_fn cb) {
  transport_request req{letta_endpoint::agent_get, "GET", agent_target(agent_id), {}, agent_id, {}};
  submit(std::move(req), [this, cb = std::move(cb)](letta_result res, transport_response) {
    asio::post(io_, [cb, res] { cb(res); });
  });
}

void letta_discipline::health(done_fn cb) {
  transport_request req{letta_endpoint::health, "GET", health_target(), {}, {}, {}};
  submit(std::move(req), [this, cb = std::move(cb)](letta_result res, transport_response) {
    asio::post(io_, [cb, res] { cb(res); });
  });
}

// ---- the discipline ----

void letta_discipline::submit(transport_request req, finish_fn finish) {
  actions acts;
  {
    std::lock_guard lk(mu_);
    const time_point now = clock_.now();
    const std::string key = req.agent_id;  // "" = health: serialised, no per-agent limit
    auto it = agents_.find(key);
    if (it == agents_.end()) {
      const double rate = key.empty() ? 0 : opts_.per_agent_per_s;
      it = agents_.emplace(key, agent_state{{}, false, 0, policies::token_bucket(rate, opts_.per_agent_burst, now)}).first;
    }
    agent_state& a = it->second;
    if (a.pending.size() >= opts_.max_pending_per_agent) {
      letta_result res;
      res.error = "overloaded";
      metrics_.get_counter("npcorch_letta_failures_total", "Letta calls that finally failed",
                           {{"reason", "overloaded"}}).inc();
      acts.push_back([finish = std::move(finish), res] { finish(res, {}); });
    } else {
      auto c = std::make_shared<call>();
      c->req = std::move(req);
      c->finish = std::move(finish);
      c->submitted = now;
      a.pending.push_back(std::move(c));
      if (!a.active) {
        a.active = true;
        ready_.push_back(key);
      }
      pump_locked(now, acts);
    }
  }
  run(acts);
}

void letta_discipline::track_breaker_locked(std::uint64_t transitions_before, time_point now) {
  if (breaker_.transitions() == transitions_before) return;
  const policies::breaker_state s = breaker_.state(now);
  breaker_gauge_.set(static_cast<double>(static_cast<int>(s)));
  metrics_.get_counter("npcorch_letta_breaker_transitions_total", "Letta circuit breaker transitions",
                       {{"to", policies::to_string(s)}}).inc();
}

void letta_discipline::wake_at_locked(time_point t, time_point now) {
  if (wake_at_ && *wake_at_ <= t && *wake_at_ > now) return;  // an earlier wake is set
  wake_at_ = t;
  wake_timer_.expires_after(std::max(policies::duration::zero(), t - now));
  wake_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    actions acts;
    {
      std::lock_guard lk(self->mu_);
      self->wake_at_.reset();
      self->pump_locked(self->clock_.now(), acts);
    }
    run(acts);
  });
}

void letta_discipline::pump_locked(time_point now, actions& out) {
  for (auto it = ready_.begin(); it != ready_.end() && in_flight_ < opts_.max_in_flight;) {
    agent_state& a = agents_.at(*it);
    const std::shared_ptr<call>& c = a.pending.front();
    const policies::breaker_state bs = breaker_.state(now);
    if (bs == policies::breaker_state::open) {
      if (!c->blocked_since) c->blocked_since = now;
      if (now - *c->blocked_since >= opts_.breaker_wait) {
        letta_result res;
        res.error = "breaker_open";
        res.attempts = c->attempts;
        const std::string key = *it;
        it = ready_.erase(it);
        complete_locked(key, a, res, {}, out);
        it = ready_.begin();  // complete_locked may have appended; restart the scan
        continue;
      }
      wake_at_locked(std::min(breaker_.reopen_at(), *c->blocked_since + opts_.breaker_wait), now);
      ++it;
      continue;
    }
    if (!global_.unlimited() && global_.wait_time(now) > policies::duration::zero()) {
      if (!c->counted_wait) {
        c->counted_wait = true;
        rate_waits_.inc();
      }
      wake_at_locked(now + global_.wait_time(now), now);
      break;  // nothing else may start before the global bucket refills
    }
    if (!a.bucket.unlimited() && a.bucket.wait_time(now) > policies::duration::zero()) {
      if (!c->counted_wait) {
        c->counted_wait = true;
        rate_waits_.inc();
      }
      wake_at_locked(now + a.bucket.wait_time(now), now);
      ++it;
      continue;
    }
    const std::uint64_t transitions = breaker_.transitions();
    const bool allowed = breaker_.allow(now);  // may move a due open breaker to half-open
    track_breaker_locked(transitions, now);
    if (!allowed) {  // half-open with its probe out: wait for the probe's answer
      ++it;
      continue;
    }
    global_.try_acquire(now);
    a.bucket.try_acquire(now);
    const std::string key = *it;
    it = ready_.erase(it);
    start_locked(key, a, a.pending.front(), now, out);
  }
}

void letta_discipline::start_locked(const std::string& key, agent_state& a, const std::shared_ptr<call>& c,
                                    time_point now, actions& out) {
  ++c->attempts;
  if (c->attempts > 1) retries_.inc();
  c->attempt_started = now;
  c->counted_wait = false;
  c->blocked_since.reset();
  ++in_flight_;
  ++a.in_flight;
  max_in_flight_seen_ = std::max(max_in_flight_seen_, in_flight_);
  max_agent_concurrency_ = std::max(max_agent_concurrency_, a.in_flight);
  in_flight_gauge_.set(in_flight_);
  out.push_back([self = shared_from_this(), key, c] {
    self->transport_->execute(c->req, [self, key, c](transport_response r) {
      self->on_response(key, c, std::move(r));
    });
  });
}

static std::string status_label(const transport_response& r) {
  if (r.status != 0) return std::to_string(r.status);
  return r.error == "timeout" ? "timeout" : "error";
}

static std::string failure_reason(const transport_response& r) {
  if (r.status == 0) return r.error.empty() ? "connection" : r.error;
  if (r.status == 404) return "not_found";
  return "http_" + std::to_string(r.status);
}

void letta_discipline::on_response(const std::string& key, std::shared_ptr<call> c, transport_response r) {
  actions acts;
  {
    std::lock_guard lk(mu_);
    const time_point now = clock_.now();
    agent_state& a = agents_.at(key);
    --in_flight_;
    --a.in_flight;
    in_flight_gauge_.set(in_flight_);
    latency_.observe(std::chrono::duration<double>(now - c->attempt_started).count());
    metrics_.get_counter("npcorch_letta_calls_total", "Letta requests by endpoint and status",
                         {{"endpoint", to_string(c->req.endpoint)}, {"status", status_label(r)}}).inc();

    // Only signs of a sick server feed the breaker; a 4xx (429 included) is an answer.
    const std::uint64_t transitions = breaker_.transitions();
    if (r.status == 0 || r.status >= 500) breaker_.on_failure(now);
    else breaker_.on_success(now);
    track_breaker_locked(transitions, now);

    const bool ok = r.status >= 200 && r.status < 300;
    if (!ok && policies::is_retryable(r.status, r.body) && policies::may_retry(opts_.backoff, c->attempts)) {
      std::optional<policies::duration> ra;
      if (r.retry_after) ra = *r.retry_after;
      const auto delay = policies::backoff_delay(opts_.backoff, c->attempts, jitter_.next(), ra);
      c->retry_timer.emplace(io_, delay);
      c->retry_timer->async_wait([self = shared_from_this(), key](const boost::system::error_code&) {
        actions later;
        {
          std::lock_guard lk2(self->mu_);
          self->ready_.push_back(key);
          self->pump_locked(self->clock_.now(), later);
        }
        run(later);
      });
    } else {
      letta_result res;
      res.ok = ok;
      res.http_status = r.status;
      res.attempts = c->attempts;
      if (!ok) res.error = failure_reason(r);
      complete_locked(key, a, res, std::move(r), acts);
    }
    pump_locked(now, acts);
  }
  run(acts);
}

void letta_discipline::complete_locked(const std::string& key, agent_state& a, letta_result res,
                                       transport_response r, actions& out) {
  std::shared_ptr<call> c = a.pending.front();
  a.pending.pop_front();
  if (!res.ok && res.error != "not_found")
    metrics_.get_counter("npcorch_letta_failures_total", "Letta calls that finally failed",
                         {{"reason", res.error}}).inc();
  if (a.pending.empty()) {
    a.active = false;
  } else {
    ready_.push_back(key);
  }
  out.push_back([c, res, r = std::move(r)]() mutable { c->finish(res, std::move(r)); });
}

std::uint32_t letta_discipline::in_flight() const {
  std::lock_guard lk(mu_);
  return in_flight_;
}
std::uint32_t letta_discipline::max_in_flight_seen() const {
  std::lock_guard lk(mu_);
  return max_in_flight_seen_;
}
std::uint32_t letta_discipline::max_agent_concurrency() const {
  std::lock_guard lk(mu_);
  return max_agent_concurrency_;
}
policies::breaker_state letta_discipline::breaker_state() const {
  std::lock_guard lk(mu_);
  return breaker_.state(clock_.now());
}

}  // namespace orch::workers
