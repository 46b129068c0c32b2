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
  d.sync_share = o.sync_share;
  d.backoff.base = o.retry_base;
  d.backoff.max = o.retry_max;
  d.backoff.max_attempts = std::max<std::uint32_t>(1, o.retry_max_attempts);
  d.breaker_failure_threshold = o.breaker_failure_threshold;
  d.breaker_open = o.breaker_open;
  d.breaker_wait = o.timeout;
  d.per_game = o.conversations == letta_conversations::per_game;
  return d;
}

scheduler_options discipline_options::scheduler() const {
  scheduler_options s;
  s.max_in_flight = max_in_flight;
  s.global_per_s = global_per_s;
  s.global_burst = global_burst;
  s.per_agent_per_s = per_agent_per_s;
  s.per_agent_burst = per_agent_burst;
  s.sync_share = sync_share;
  s.backoff = backoff;
  s.breaker_failure_threshold = breaker_failure_threshold;
  s.breaker_open = breaker_open;
  s.breaker_wait = breaker_wait;
  s.max_pending_per_lane = max_pending_per_agent;
  s.jitter_seed = jitter_seed;
  s.gate = gate;
  return s;
}

static std::uint64_t seed_or_random(std::uint64_t s) {
  if (s != 0) return s;
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

letta_discipline::letta_discipline(asio::io_context& io, std::shared_ptr<letta_transport> transport,
                                   discipline_options opts, const policies::clock& clock, metrics::registry& metrics)
    : io_(io),
      transport_(std::move(transport)),
      clock_(clock),
      metrics_(metrics),
      own_timers_(std::make_unique<asio_timer_service>(io)),
      scheduler_(std::make_shared<call_scheduler>(opts.scheduler(), clock, *own_timers_, metrics)),
      per_game_(opts.per_game),
      shared_(opts.shared_map),
      otid_rng_(seed_or_random(opts.jitter_seed == 0 ? 0 : opts.jitter_seed + 1)),
      m_(metrics) {}

letta_discipline::letta_discipline(asio::io_context& io, std::shared_ptr<letta_transport> transport,
                                   discipline_options opts, const policies::clock& clock, timer_service& timers,
                                   metrics::registry& metrics)
    : io_(io),
      transport_(std::move(transport)),
      clock_(clock),
      metrics_(metrics),
      scheduler_(std::make_shared<call_scheduler>(opts.scheduler(), clock, timers, metrics)),
      per_game_(opts.per_game),
      shared_(opts.shared_map),
      otid_rng_(seed_or_random(opts.jitter_seed == 0 ? 0 : opts.jitter_seed + 1)),
      m_(metrics) {}

letta_discipline::fixed_metrics::fixed_metrics(metrics::registry& r)
    : latency(r.get_histogram("npcorch_letta_latency_seconds", "Latency of one Letta request")),
      known_reads(r.get_counter("npcorch_letta_block_reads_known_total",
                                "Block reads answered without a request: the isolated block is still "
                                "the copy of the agent's block made when this daemon created it")),
      prompt_tokens(r.get_counter("npcorch_letta_tokens_total", tokens_help, {{"type", "prompt"}})),
      completion_tokens(r.get_counter("npcorch_letta_tokens_total", tokens_help, {{"type", "completion"}})) {}

std::string letta_discipline::new_otid() {
  // uuid4 layout from a seeded 64-bit generator: unique per client in practice, and
  // recognisable in Letta's logs.
  std::uint64_t a = 0, b = 0;
  {
    std::lock_guard lk(otid_mu_);
    a = otid_rng_();
    b = otid_rng_();
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

// ---- public calls: build the request, decide how a final response becomes a result ----

void letta_discipline::send_messages(const std::string& agent_id, std::vector<letta_message> messages, reply_fn cb) {
  send_messages_as(letta_call_class::npc, agent_id, std::move(messages), std::move(cb));
}

void letta_discipline::set_missing_agents(std::vector<std::string> agents) {
  std::lock_guard lk(otid_mu_);
  missing_ = std::unordered_set<std::string>(agents.begin(), agents.end());
}

std::optional<std::uint64_t> letta_discipline::message_steps(const std::string& agent_id) const {
  std::lock_guard lk(otid_mu_);
  auto it = steps_.find(agent_id);
  return it == steps_.end() ? 0 : it->second;
}

bool letta_discipline::refuse_missing(const std::string& agent_id) {
  {
    std::lock_guard lk(otid_mu_);
    if (missing_.empty() || !missing_.contains(agent_id)) return false;
  }
  metrics_
      .get_counter("npcorch_letta_calls_refused_total", "Letta calls refused without a request",
                   {{"reason", "agent_missing"}})
      .inc();
  return true;
}

void letta_discipline::count_tokens(const std::string& agent_id, const letta_reply& reply) {
  if (reply.prompt_tokens == 0 && reply.completion_tokens == 0) return;
  m_.prompt_tokens.inc(reply.prompt_tokens);
  m_.completion_tokens.inc(reply.completion_tokens);
  const char* agent_help = "Tokens used by Letta replies per agent (from usage)";
  metrics_.get_counter("npcorch_letta_agent_tokens_total", agent_help, {{"agent", agent_id}, {"type", "prompt"}})
      .inc(reply.prompt_tokens);
  metrics_.get_counter("npcorch_letta_agent_tokens_total", agent_help, {{"agent", agent_id}, {"type", "completion"}})
      .inc(reply.completion_tokens);
}

static letta_result agent_missing_result() {
  letta_result r;
  r.error = "agent_missing";
  r.http_status = 404;
  return r;
}

void letta_discipline::send_messages_as(letta_call_class cls, const std::string& agent_id,
                                        std::vector<letta_message> messages, reply_fn cb) {
  send_impl(cls, agent_id, {}, std::move(messages), std::move(cb));
}

void letta_discipline::send_in_game(letta_call_class cls, const std::string& agent_id, const std::string& game_id,
                                    std::vector<letta_message> messages, reply_fn cb) {
  send_impl(cls, agent_id, per_game_ ? game_id : std::string(), std::move(messages), std::move(cb));
}

void letta_discipline::send_impl(letta_call_class cls, const std::string& agent_id, const std::string& game,
                                 std::vector<letta_message> messages, reply_fn cb) {
  if (refuse_missing(agent_id)) {
    asio::post(io_, [cb = std::move(cb)] { cb(agent_missing_result(), {}); });
    return;
  }
  for (auto& m : messages)
    if (m.otid.empty()) m.otid = new_otid();
  std::string otid;  // the otid looked for after a timeout: the last user message's, else the last one's
  for (const auto& m : messages)
    if (m.role == "user" || m.role.empty()) otid = m.otid;
  if (otid.empty() && !messages.empty()) otid = messages.back().otid;
  transport_request req{
      letta_endpoint::messages, "POST", messages_target(agent_id), build_messages_body(messages), agent_id, {}, {}, {}};
  const std::string lane = lane_key(agent_id, game);
  submit(
      std::move(req), cls == letta_call_class::reply ? call_class::reply : call_class::npc,
      [this, agent_id, lane, cb = std::move(cb)](letta_result res, transport_response r) {
        letta_reply reply;
        if (res.ok && !parse_letta_response(r.body, reply)) {
          res.ok = false;
          res.error = "bad_response";
          metrics_
              .get_counter("npcorch_letta_failures_total", "Letta calls that finally failed",
                           {{"reason", "bad_response"}})
              .inc();
        }
        if (res.ok) count_tokens(agent_id, reply);
        if (res.attempts > 0) {  // it may have run a step, even when it failed
          std::lock_guard lk(otid_mu_);
          ++steps_[lane];
        }
        asio::post(io_, [cb, res, reply = std::move(reply)]() mutable { cb(res, std::move(reply)); });
      },
      game, std::move(otid));
}

void letta_discipline::get_block(const std::string& agent_id, const std::string& label, block_fn cb) {
  get_game_block(agent_id, {}, label, std::move(cb));
}

void letta_discipline::get_game_block(const std::string& agent_id, const std::string& game_id, const std::string& label,
                                      block_fn cb) {
  if (refuse_missing(agent_id)) {
    asio::post(io_, [cb = std::move(cb)] { cb(agent_missing_result(), {}); });
    return;
  }
  if (per_game_ && !game_id.empty() && answer_pristine(lane_key(agent_id, game_id), agent_id, label, cb)) return;
  transport_request req{letta_endpoint::block_get, "GET", block_target(agent_id, label), {}, agent_id, label, {}, {}};
  submit(
      std::move(req), call_class::sync,
      [this, cb = std::move(cb)](letta_result res, transport_response r) {
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
      },
      per_game_ ? game_id : std::string());
}

void letta_discipline::update_block(const std::string& agent_id, const std::string& label, std::string value,
                                    done_fn cb) {
  update_game_block(agent_id, {}, label, std::move(value), std::move(cb));
}

void letta_discipline::update_game_block(const std::string& agent_id, const std::string& game_id,
                                         const std::string& label, std::string value, done_fn cb) {
  if (refuse_missing(agent_id)) {
    asio::post(io_, [cb = std::move(cb)] { cb(agent_missing_result()); });
    return;
  }
  transport_request req{letta_endpoint::block_update,
                        "PATCH",
                        block_target(agent_id, label),
                        build_block_update_body(value),
                        agent_id,
                        label,
                        {},
                        {}};
  submit(
      std::move(req), call_class::sync,
      [this, cb = std::move(cb)](letta_result res, transport_response) { asio::post(io_, [cb, res] { cb(res); }); },
      per_game_ ? game_id : std::string());
}

std::optional<std::uint64_t> letta_discipline::game_message_steps(const std::string& agent_id,
                                                                  const std::string& game_id) const {
  const std::string lane = lane_key(agent_id, game_id);
  std::lock_guard lk(otid_mu_);
  auto it = steps_.find(lane);
  return it == steps_.end() ? 0 : it->second;
}

std::string letta_discipline::lane_key(const std::string& agent_id, const std::string& game_id) const {
  std::string key;
  append_lane_key(key, agent_id, game_id);
  return key;
}

void letta_discipline::append_lane_key(std::string& out, const std::string& agent_id,
                                       const std::string& game_id) const {
  out += agent_id;
  if (!per_game_ || game_id.empty()) return;
  out += '|';  // agent ids never hold '|'
  out += game_id;
}

void letta_discipline::get_agent(const std::string& agent_id, done_fn cb) {
  transport_request req{letta_endpoint::agent_get, "GET", agent_target(agent_id), {}, agent_id, {}, {}, {}};
  submit(std::move(req), call_class::npc,
         [this, cb = std::move(cb)](letta_result res, transport_response) { asio::post(io_, [cb, res] { cb(res); }); });
}

void letta_discipline::health(done_fn cb) {
  transport_request req{letta_endpoint::health, "GET", health_target(), {}, {}, {}, {}, {}};
  submit(std::move(req), call_class::npc,
         [this, cb = std::move(cb)](letta_result res, transport_response) { asio::post(io_, [cb, res] { cb(res); }); });
}

// ---- classification of answers; the scheduler decides when ----

namespace {

std::string status_label(const transport_response& r) {
  if (r.status != 0) return std::to_string(r.status);
  return r.error == "timeout" ? "timeout" : "error";
}

std::string failure_reason(const transport_response& r) {
  if (r.status == 0) return r.error.empty() ? "connection" : r.error;
  if (r.status == 404) return "not_found";
  return "http_" + std::to_string(r.status);
}

// The kind label of npcorch_letta_requests_total (DESIGN 8).
const char* request_kind(letta_endpoint e) {
  switch (e) {
    case letta_endpoint::messages:
      return "message";
    case letta_endpoint::block_get:
      return "block_read";
    case letta_endpoint::block_update:
      return "block_write";
    case letta_endpoint::conversation_list:
    case letta_endpoint::conversation_create:
      return "conversation";
    case letta_endpoint::messages_list:
      return "message_check";
    default:
      return "other";
  }
}

}  // namespace

void letta_discipline::execute_counted(transport_request req, const char* kind,
                                       std::function<void(transport_response)> cb) {
  const time_point started = clock_.now();
  const letta_endpoint endpoint = req.endpoint;
  transport_->execute(std::move(req),
                      [self = shared_from_this(), started, endpoint, kind, cb = std::move(cb)](transport_response r) {
                        self->m_.latency.observe(std::chrono::duration<double>(self->clock_.now() - started).count());
                        self->metrics_
                            .get_counter("npcorch_letta_calls_total", "Letta requests by endpoint and status",
                                         {{"endpoint", to_string(endpoint)}, {"status", status_label(r)}})
                            .inc();
                        self->metrics_
                            .get_counter("npcorch_letta_requests_total", "Letta requests by kind and status",
                                         {{"kind", kind ? kind : request_kind(endpoint)}, {"status", status_label(r)}})
                            .inc();
                        cb(std::move(r));
                      });
}

void letta_discipline::submit(transport_request req, call_class cls, finish_fn finish, std::string game,
                              std::string otid) {
  auto sc = std::make_shared<shared_call>();
  sc->lane = lane_key(req.agent_id, game);  // "" = health: serialised, no per-agent limit
  sc->req = std::move(req);
  sc->finish = std::move(finish);
  sc->game = std::move(game);
  sc->otid = std::move(otid);
  call_spec spec;
  spec.lane = sc->lane;
  spec.agent = sc->req.agent_id;
  spec.cls = cls;
  spec.agent_rate = sc->req.endpoint == letta_endpoint::messages;
  spec.attempt = [self = shared_from_this(), sc](std::function<void(attempt_result)> done) {
    self->attempt(sc, std::move(done));
  };
  spec.finish = [self = shared_from_this(), sc](std::string_view error, std::uint32_t attempts) {
    letta_result res;
    res.attempts = attempts;
    if (error.empty()) {
      res.ok = true;
      res.http_status = sc->last.status;
    } else if (error == "failed") {
      res.http_status = sc->last.status;
      res.error = failure_reason(sc->last);
    } else {
      res.error = std::string(error);  // overloaded | breaker_open
    }
    if (!res.ok && res.error != "not_found")
      self->metrics_
          .get_counter("npcorch_letta_failures_total", "Letta calls that finally failed", {{"reason", res.error}})
          .inc();
    sc->finish(res, std::move(sc->last));
  };
  scheduler_->submit(std::move(spec));
}

void letta_discipline::complete_attempt(const std::shared_ptr<shared_call>& sc, transport_response r,
                                        const std::function<void(attempt_result)>& done) {
  attempt_result a;
  a.ok = r.status >= 200 && r.status < 300;
  // Only signs of a sick server feed the breaker; a 4xx (429 included) is an answer.
  a.server_failure = r.status == 0 || r.status >= 500;
  a.retryable = !a.ok && policies::is_retryable(r.status, r.body);
  // An answer above letta.max_response_bytes: the server answered (not a sign of sickness) and
  // the same request would get the same answer, so it fails at once.
  if (r.status == 0 && r.error == "too_large") {
    a.server_failure = false;
    a.retryable = false;
    metrics_
        .get_counter("npcorch_letta_not_retried_total", "Failed Letta attempts not retried because of their answer",
                     {{"reason", "too_large"}})
        .inc();
  }
  if (r.retry_after) a.retry_after = *r.retry_after;
  // A message that timed out, or whose connection broke after it was written, may have landed:
  // the next attempt reads the thread back before sending it again.
  if (sc->req.endpoint == letta_endpoint::messages && r.status == 0 &&
      (r.error == "timeout" || r.error == "connection"))
    sc->timed_out = true;
  sc->last = std::move(r);
  done(a);
}

}  // namespace orch::workers
