#include "daemon/router.hpp"

#include <charconv>
#include <random>

#include <boost/asio/steady_timer.hpp>

namespace orch::daemon {
namespace {

namespace net = boost::asio;

struct target_parts {
  std::string_view path;
  std::vector<std::pair<std::string, std::string>> query;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') out += ' ';
    else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else out += s[i];
  }
  return out;
}

target_parts split_target(std::string_view t) {
  target_parts p;
  auto q = t.find('?');
  p.path = t.substr(0, q);
  if (q == std::string_view::npos) return p;
  std::string_view rest = t.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    auto eq = kv.find('=');
    p.query.emplace_back(percent_decode(kv.substr(0, eq)),
                         eq == std::string_view::npos ? std::string() : percent_decode(kv.substr(eq + 1)));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return p;
}

const std::string* query_param(const target_parts& p, std::string_view name) {
  for (auto& [k, v] : p.query)
    if (k == name) return &v;
  return nullptr;
}

bool parse_u64(const std::string& s, std::uint64_t& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool is_json_content_type(std::string_view ct) {
  if (ct.empty()) return true;  // Lua's HttpService may omit it; the body is parsed as JSON.
  auto semi = ct.find(';');
  std::string_view media = ct.substr(0, semi);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  std::string lower(media);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "application/json" || lower == "text/json";
}

enum class route_id { snapshot, chat_turn, chat_v3, ws, events, healthz, readyz, metrics, debug_blocks, unknown };

struct route_info {
  std::string_view path;
  route_id id;
  http::verb method;
  std::string_view name;  // metrics label
};

constexpr route_info routes[] = {
    {"/letta/v1/snapshot/game", route_id::snapshot, http::verb::post, "snapshot"},
    {"/letta/v1/chat/turn", route_id::chat_turn, http::verb::post, "chat_turn"},
    {"/letta/v1/chat/v3", route_id::chat_v3, http::verb::post, "chat_v3"},
    {"/letta/v1/ws", route_id::ws, http::verb::get, "ws"},
    {"/letta/v1/events", route_id::events, http::verb::get, "events"},
    {"/healthz", route_id::healthz, http::verb::get, "healthz"},
    {"/readyz", route_id::readyz, http::verb::get, "readyz"},
    {"/metrics", route_id::metrics, http::verb::get, "metrics"},
    {"/letta/v1/debug/blocks", route_id::debug_blocks, http::verb::get, "debug_blocks"},
};

const route_info* find_route(std::string_view path) {
  for (auto& r : routes)
    if (r.path == path) return &r;
  return nullptr;
}

}  // namespace

http_response json_response(unsigned status, std::string body, unsigned version, bool keep_alive) {
  http_response res{static_cast<http::status>(status), version};
  res.set(http::field::server, "npc-orchestratord");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

std::string readiness::body(bool& ready) const {
  std::lock_guard lk(mu_);
  ready = letta_ok_ && !stopping_;
  std::string out = std::string("{\"status\":") + (ready ? "\"ready\"" : "\"not_ready\"") +
                    ",\"config\":\"loaded\",\"letta\":" + json_quote(letta_what_) + ",\"missing_agents\":[";
  for (std::size_t i = 0; i < missing_.size(); ++i) out += (i ? "," : "") + json_quote(missing_[i]);
  out += "]";
  if (stopping_) out += ",\"stopping\":true";
  return out + "}";
}

router::router(router_services s)
    : s_(std::move(s)),
      bad_requests_(s_.metrics.get_counter("npcorch_http_bad_requests_total",
                                           "Requests answered with a 4xx because of their content")) {
  std::random_device rd;
  boot_nonce_ = std::to_string(rd() % 100000);
}

bool router::authorized(const http_request& req) const {
  auto cfg = s_.current_config();
  const std::string& token = cfg->server.auth_token;
  if (token.empty()) return true;
  auto h = req[http::field::authorization];
  const std::string_view prefix = "Bearer ";
  if (h.size() != prefix.size() + token.size() || h.substr(0, prefix.size()) != prefix) return false;
  // Constant-time compare of the token part.
  unsigned char diff = 0;
  for (std::size_t i = 0; i < token.size(); ++i)
    diff |= static_cast<unsigned char>(h[prefix.size() + i] ^ token[i]);
  return diff == 0;
}

std::string router::next_turn_id() {
  return "t-" + boot_nonce_ + "-" + std::to_string(turn_counter_.fetch_add(1) + 1);
}

std::string router::turn_key(const workers::chat_turn& t) const {
  // Turns of one cluster are arbitrated in order; a speaker in no cluster keys on itself.
  if (auto v = s_.views.view(t.game_id)) {
    auto it = v->entities.find(t.speaker_name);
    if (it != v->entities.end() && !it->second.cluster_id.empty())
      return t.game_id + "/" + it->second.cluster_id;
  }
  return t.game_id + "/@" + t.speaker_name;
}

// The answer to a submit: `accepted_body` when queued, 429 with Retry-After when the queue is
// full, 503 while draining.
router::submit_outcome router::outcome_of(const queues::submit_result& r, std::string accepted_body) {
  switch (r.status) {
    case queues::submit_status::accepted:
      return {202, std::move(accepted_body), {}};
    case queues::submit_status::rejected:
      return {429, error_body("overloaded", "queue " + r.queue_name + " is full; retry later"),
              static_cast<unsigned>(r.retry_after.count())};
    case queues::submit_status::stopped:
      break;
  }
  return {503, error_body("shutting_down", "the daemon is draining and accepts no new work"), {}};
}

http_response router::to_response(submit_outcome out, unsigned version, bool keep_alive) {
  auto res = json_response(out.status, std::move(out.body), version, keep_alive);
  if (out.retry_after) res.set(http::field::retry_after, std::to_string(*out.retry_after));
  return res;
}

router::submit_outcome router::submit_snapshot(workers::snapshot s) {
  queues::message m;
  m.kind = queues::message_kind::snapshot;
  m.key = s.game_id;
  m.coalesce = true;
  std::string game = s.game_id;
  m.payload = std::make_shared<workers::snapshot>(std::move(s));
  auto r = s_.dispatcher.submit(std::move(m));
  return outcome_of(r, "{\"status\":\"success\",\"gameId\":" + json_quote(game) + ",\"queue\":" + json_quote(r.queue_name) + "}");
}

router::submit_outcome router::submit_turn(std::shared_ptr<workers::chat_turn> t) {
  if (t->turn_id.empty()) t->turn_id = next_turn_id();
  queues::message m;
  m.kind = queues::message_kind::chat_turn;
  m.key = turn_key(*t);
  std::string id = t->turn_id;
  m.payload = std::move(t);
  auto r = s_.dispatcher.submit(std::move(m));
  return outcome_of(r, "{\"turnId\":" + json_quote(id) + ",\"queue\":" + json_quote(r.queue_name) + "}");
}

std::optional<std::string> router::on_ws_frame(std::string_view text) {
  auto p = parse_ws_frame(text);
  if (auto* e = std::get_if<codec_error>(&p)) {
    bad_requests_.inc();
    std::string body = error_body(*e);
    return "{\"type\":\"error\"," + body.substr(1);
  }
  auto& frame = std::get<ws_frame>(p);
  submit_outcome out;
  if (auto* s = std::get_if<workers::snapshot>(&frame)) out = submit_snapshot(std::move(*s));
  else out = submit_turn(std::make_shared<workers::chat_turn>(std::move(std::get<workers::chat_turn>(frame))));
  if (out.status >= 400) return "{\"type\":\"error\"," + out.body.substr(1);
  // Accepted frames are acknowledged like their HTTP answers, as an `ack` frame.
  return "{\"type\":\"ack\"," + out.body.substr(1);
}

std::optional<http_response> router::check_ws_upgrade(const http_request& req, std::string& game,
                                                      std::uint64_t& since) const {
  const bool ka = req.keep_alive();
  if (!authorized(req))
    return json_response(401, error_body("unauthorized", "Authorization: expected a valid bearer token"), req.version(), false);
  auto parts = split_target(req.target());
  auto* g = query_param(parts, "gameId");
  if (!g || g->empty() || g->size() > 256)
    return json_response(400, error_body("invalid_request", "gameId: required query parameter"), req.version(), ka);
  game = *g;
  since = 0;
  if (auto* s = query_param(parts, "since"); s && !parse_u64(*s, since))
    return json_response(400, error_body("invalid_request", "since: expected a non-negative integer"), req.version(), ka);
  return std::nullopt;
}

void router::handle(http_request&& req, const net::any_io_executor& ex, respond_fn respond) {
  const unsigned version = req.version();
  const bool ka = req.keep_alive();
  auto parts = split_target(req.target());
  const route_info* r = find_route(parts.path);
  auto answer = [&](unsigned status, std::string body) {
    if (status >= 400 && status < 500) bad_requests_.inc();
    respond(json_response(status, std::move(body), version, ka));
  };
  if (!r) return answer(404, error_body("not_found", "no route " + std::string(parts.path)));
  if (req.method() != r->method) {
    auto res = json_response(405, error_body("method_not_allowed", std::string(parts.path) + " takes " +
                                                                       std::string(http::to_string(r->method))),
                             version, ka);
    res.set(http::field::allow, http::to_string(r->method));
    bad_requests_.inc();
    return respond(std::move(res));
  }
  if (r->id != route_id::healthz && !authorized(req)) {
    auto res = json_response(401, error_body("unauthorized", "Authorization: expected a valid bearer token"), version, ka);
    res.set(http::field::www_authenticate, "Bearer");
    bad_requests_.inc();
    return respond(std::move(res));
  }
  if (r->method == http::verb::post && !is_json_content_type(req[http::field::content_type]))
    return answer(415, error_body("unsupported_media_type", "Content-Type: expected application/json"));

  switch (r->id) {
    case route_id::snapshot: {
      auto p = parse_snapshot(req.body(), req["X-Game-Id"]);
      if (auto* e = std::get_if<codec_error>(&p)) return answer(e->status, error_body(*e));
      return respond(to_response(submit_snapshot(std::move(std::get<workers::snapshot>(p))), version, ka));
    }
    case route_id::chat_turn: {
      auto p = parse_chat_turn(req.body());
      if (auto* e = std::get_if<codec_error>(&p)) return answer(e->status, error_body(*e));
      return respond(to_response(
          submit_turn(std::make_shared<workers::chat_turn>(std::move(std::get<workers::chat_turn>(p)))), version, ka));
    }
    case route_id::chat_v3:
      return handle_chat_v3(std::move(req), ex, std::move(respond));
    case route_id::events:
      return handle_events(std::move(req), ex, std::move(respond));
    case route_id::ws:
      return answer(426, error_body("upgrade_required", "/letta/v1/ws is a WebSocket endpoint"));
    case route_id::healthz:
      return answer(200, "{\"status\":\"alive\"}");
    case route_id::readyz: {
      bool ready = false;
      std::string body = s_.ready.body(ready);
      return respond(json_response(ready ? 200 : 503, std::move(body), version, ka));
    }
    case route_id::metrics: {
      http_response res{http::status::ok, version};
      res.set(http::field::content_type, "text/plain; version=0.0.4");
      res.keep_alive(ka);
      res.body() = s_.metrics.render();
      res.prepare_payload();
      return respond(std::move(res));
    }
    case route_id::debug_blocks: {
      if (!s_.debug_block) return answer(404, error_body("not_found", "debug blocks exist only with letta.backend: simulated"));
      auto* agent = query_param(parts, "agentId");
      auto* label = query_param(parts, "label");
      if (!agent || agent->empty()) return answer(400, error_body("invalid_request", "agentId: required query parameter"));
      if (!label || label->empty()) return answer(400, error_body("invalid_request", "label: required query parameter"));
      auto v = s_.debug_block(*agent, *label);
      if (!v) return answer(404, error_body("not_found", "no block " + *label + " for " + *agent));
      return answer(200, "{\"agentId\":" + json_quote(*agent) + ",\"label\":" + json_quote(*label) + ",\"value\":" + json_quote(*v) + "}");
    }
    case route_id::unknown:
      break;
  }
  answer(404, error_body("not_found", "no route"));
}

namespace {

std::string events_body(const queues::read_result& r) {
  std::string out = "{\"events\":[";
  for (std::size_t i = 0; i < r.events.size(); ++i) {
    if (i) out += ',';
    out += r.events[i]->json;
  }
  out += "],\"next\":" + std::to_string(r.next);
  if (r.reset) out += ",\"reset\":true";
  return out + "}";
}

// One pending long-poll or /chat/v3 wait: answered exactly once, by the first of its event
// or its timer. Lives in shared_ptrs held by the subscription callback and the timer.
struct waiter : std::enable_shared_from_this<waiter> {
  explicit waiter(const net::any_io_executor& ex) : timer(ex), strand_ex(ex) {}
  net::steady_timer timer;
  net::any_io_executor strand_ex;
  std::unique_ptr<queues::event_hub::subscription> sub;
  std::atomic<bool> done{false};
  std::function<void()> on_timeout;
  bool claim() { return !done.exchange(true); }
};

constexpr std::size_t max_events_per_answer = 1000;

}  // namespace

void router::handle_events(http_request&& req, const net::any_io_executor& ex, respond_fn respond) {
  const unsigned version = req.version();
  const bool ka = req.keep_alive();
  auto parts = split_target(req.target());
  auto bad = [&](std::string detail) {
    bad_requests_.inc();
    respond(json_response(400, error_body("invalid_request", detail), version, ka));
  };
  auto* g = query_param(parts, "gameId");
  if (!g || g->empty() || g->size() > 256) return bad("gameId: required query parameter");
  std::uint64_t since = 0, wait_ms = 0;
  if (auto* s = query_param(parts, "since"); s && !parse_u64(*s, since)) return bad("since: expected a non-negative integer");
  auto cfg = s_.current_config();
  const auto max_wait = static_cast<std::uint64_t>(cfg->events.max_wait.count());
  if (auto* w = query_param(parts, "wait_ms"); w && (!parse_u64(*w, wait_ms) || wait_ms > max_wait))
    return bad("wait_ms: expected an integer from 0 to " + std::to_string(max_wait));
  std::string game = *g;

  auto r = s_.events.read(game, since, max_events_per_answer);
  if (!r.events.empty() || r.reset || wait_ms == 0)
    return respond(json_response(200, events_body(r), version, ka));

  // Long-poll: subscribe first, then read again, so that an event published in between is
  // not missed; answer on the first event or at the timer.
  auto w = std::make_shared<waiter>(ex);
  // Runs on the session's strand only (the timer's handler, or posted from the publisher).
  auto finish = [this, game, since, version, ka, respond](const std::shared_ptr<waiter>& self) {
    if (!self->claim()) return;
    self->timer.cancel();
    self->sub.reset();
    respond(json_response(200, events_body(s_.events.read(game, since, max_events_per_answer)), version, ka));
  };
  std::weak_ptr<waiter> weak = w;
  w->sub = s_.events.subscribe(game, [weak, finish](const queues::event_ptr&) {
    if (auto self = weak.lock()) net::post(self->strand_ex, [self, finish] { finish(self); });
  });
  w->timer.expires_after(std::chrono::milliseconds(wait_ms));
  w->timer.async_wait([w, finish](boost::system::error_code) { finish(w); });
  if (s_.events.last_seq(game) > since) finish(w);
}

void router::handle_chat_v3(http_request&& req, const net::any_io_executor& ex, respond_fn respond) {
  const unsigned version = req.version();
  const bool ka = req.keep_alive();
  auto p = parse_chat_v3(req.body(), req["X-Game-Id"]);
  if (auto* e = std::get_if<codec_error>(&p)) {
    bad_requests_.inc();
    return respond(json_response(e->status, error_body(*e), version, ka));
  }
  auto turn = std::make_shared<workers::chat_turn>(std::move(std::get<workers::chat_turn>(p)));
  auto cfg = s_.current_config();
  const workers::npc_info* npc = cfg->registry->find_npc(turn->v3_npc_id);
  if (!npc) {
    bad_requests_.inc();
    return respond(json_response(404, error_body("unknown_npc", "npc_id: " + turn->v3_npc_id + " is not in the world registry"), version, ka));
  }
  if (turn->game_id.empty()) turn->game_id = s_.views.game_of_npc(npc->id);
  if (turn->game_id.empty()) {
    bad_requests_.inc();
    return respond(json_response(404, error_body("unknown_game", "npc_id: " + npc->id + " has not been seen in any game; send X-Game-Id"), version, ka));
  }
  turn->turn_id = next_turn_id();
  const std::string turn_id = turn->turn_id, npc_name = npc->display_name, game = turn->game_id;

  auto shape = [turn_id](const std::string* message, const std::string& conversation, const std::string& extra) {
    return std::string("{\"message\":") + (message ? json_quote(*message) : "null") +
           ",\"conversation_id\":" + json_quote(conversation) + ",\"action\":{\"type\":\"none\"},\"metadata\":{\"turn_id\":" +
           json_quote(turn_id) + extra + "}}";
  };
  // Subscribe before submitting so that a quick reply cannot slip past.
  auto w = std::make_shared<waiter>(ex);
  // finish() runs on the session's strand only (timer handler, or posted from the publisher).
  auto finish = [respond, version, ka](const std::shared_ptr<waiter>& self, std::string body) {
    if (!self->claim()) return;
    self->timer.cancel();
    self->sub.reset();
    respond(json_response(200, std::move(body), version, ka));
  };
  auto finish_later = [weak = std::weak_ptr<waiter>(w), finish](std::string body) {
    if (auto self = weak.lock())
      net::post(self->strand_ex, [self, finish, body = std::move(body)]() mutable { finish(self, std::move(body)); });
  };
  w->sub = s_.events.subscribe(game, [finish_later, shape, turn_id, npc_name](const queues::event_ptr& ev) {
    // Typed fields, filled when the event was published: no JSON is parsed here.
    const auto& m = ev->meta;
    const std::string_view type = m.type;
    if (type == "npc_message" && m.in_reply_to == turn_id && m.npc == npc_name) {
      finish_later(shape(&m.text, m.conversation_id, ",\"cluster_id\":" + json_quote(m.cluster_id)));
    } else if (type == "turn_dropped" && m.turn_id == turn_id) {
      finish_later(shape(nullptr, "", ",\"dropped\":" + json_quote(m.reason)));
    }
  });
  auto out = submit_turn(turn);
  if (out.status != 202) {
    w->claim();
    w->sub.reset();
    return respond(to_response(std::move(out), version, ka));
  }
  w->timer.expires_after(cfg->conversation.sync_wait);
  w->timer.async_wait([w, finish, shape](boost::system::error_code ec) {
    if (ec) return;
    finish(w, shape(nullptr, "", ",\"pending\":true"));
  });
}

}  // namespace orch::daemon
