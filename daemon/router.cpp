// The route table and handle(); long-polls live in router_events.cpp, /chat/v3 in chat_v3.cpp.
#include "daemon/router.hpp"

#include <charconv>
#include <random>

#include "daemon/http_target.hpp"

namespace orch::daemon {
namespace {

namespace net = boost::asio;

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

void render_accepted(std::string_view body, std::string& out) {
  constexpr std::string_view head =
      "HTTP/1.1 202 Accepted\r\nServer: npc-orchestratord\r\nContent-Type: application/json\r\n"
      "Content-Length: ";
  char len[24];
  const auto [end, ec] = std::to_chars(len, len + sizeof len, body.size());
  out.clear();
  out.append(head).append(len, end).append("\r\n\r\n").append(body);
}

router::router(router_services s)
    : s_(std::move(s)),
      bad_requests_(s_.metrics.get_counter("npcorch_http_bad_requests_total",
                                           "Requests answered with a 4xx because of their content")),
      subscribers_refused_(s_.metrics.get_counter("npcorch_subscribers_refused_total",
                                                  "WebSocket clients and long-polls refused: "
                                                  "events.max_subscribers_per_game reached")) {
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
  for (std::size_t i = 0; i < token.size(); ++i) diff |= static_cast<unsigned char>(h[prefix.size() + i] ^ token[i]);
  return diff == 0;
}

std::string router::next_turn_id() { return "t-" + boot_nonce_ + "-" + std::to_string(turn_counter_.fetch_add(1) + 1); }

std::string router::turn_key(const workers::chat_turn& t) const {
  // Turns of one cluster are arbitrated in order; a speaker in no cluster keys on itself.
  if (auto v = s_.views.view(t.game_id)) {
    auto it = v->entities.find(t.speaker_name);
    if (it != v->entities.end() && !it->second.cluster_id.empty())
      return "turn:" + t.game_id + "/" + it->second.cluster_id;
  }
  return "turn:" + t.game_id + "/@" + t.speaker_name;
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

namespace {

// Ids are joined with separators below U+0020 in the workers' keys: such ids are refused.
bool has_control_char(std::string_view id) {
  for (unsigned char c : id)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

}  // namespace

router::submit_outcome router::too_many_games(const std::string& game) {
  return {429,
          error_body("too_many_games",
                     "gameId: " + game.substr(0, 64) + " is new and events.max_games games are active; retry later"),
          30u};
}

std::optional<router::submit_outcome> router::admit_subscriber(const std::string& game) {
  if (!s_.events.admit(game)) return too_many_games(game);
  if (s_.events.subscribers(game) >= s_.current_config()->events.max_subscribers_per_game) {
    subscribers_refused_.inc();
    return submit_outcome{429,
                          error_body("too_many_subscribers", "gameId: " + game.substr(0, 64) +
                                                                 " has events.max_subscribers_per_game subscribers"),
                          5u};
  }
  return std::nullopt;
}

// DESIGN 10: behind nginx a game's requests are routed by X-Game-Id, so a body naming another
// game would be worked on by a daemon that does not own that game: refused (400, counted with
// the other bad requests).
std::optional<std::string> router::game_header_mismatch(std::string_view header, const std::string& body_game,
                                                        const char* code) {
  if (header.empty() || header == body_game) return std::nullopt;
  return error_body(code, "gameId: '" + body_game.substr(0, 64) + "' disagrees with the X-Game-Id header '" +
                              std::string(header.substr(0, 64)) + "'");
}

router::submit_outcome router::submit_snapshot(std::shared_ptr<workers::snapshot> s) {
  if (has_control_char(s->game_id))
    return {400, error_body("invalid_snapshot", "gameId: control characters are not allowed"), {}};
  if (!s_.events.admit(s->game_id)) return too_many_games(s->game_id);
  queues::message m;
  m.kind = queues::message_kind::snapshot;
  m.key = "game:" + s->game_id;  // keys of each kind in their own namespace
  m.coalesce = true;
  std::string accepted = "{\"status\":\"success\",\"gameId\":";  // the 202's body, built while s is ours
  json_quote_into(accepted, s->game_id);
  m.payload = std::move(s);
  auto r = s_.dispatcher.submit(std::move(m));
  if (r.status != queues::submit_status::accepted) return outcome_of(r, {});
  accepted += ",\"queue\":";
  json_quote_into(accepted, r.queue_name);
  accepted += '}';
  return outcome_of(r, std::move(accepted));
}

router::submit_outcome router::submit_turn(std::shared_ptr<workers::chat_turn> t) {
  if (has_control_char(t->game_id) || has_control_char(t->speaker_name))
    return {400, error_body("invalid_turn", "gameId, speaker.name: control characters are not allowed"), {}};
  if (!s_.events.admit(t->game_id)) return too_many_games(t->game_id);
  if (t->turn_id.empty()) t->turn_id = next_turn_id();
  queues::message m;
  m.kind = queues::message_kind::chat_turn;
  m.key = turn_key(*t);
  std::string id = t->turn_id;
  m.payload = std::move(t);
  auto r = s_.dispatcher.submit(std::move(m));
  return outcome_of(r, "{\"turnId\":" + json_quote(id) + ",\"queue\":" + json_quote(r.queue_name) + "}");
}

std::optional<std::string> router::on_ws_frame(std::string_view text, std::string_view header_game) {
  auto p = parse_ws_frame(text, header_game);
  if (auto* e = std::get_if<codec_error>(&p)) {
    bad_requests_.inc();
    std::string body = error_body(*e);
    return "{\"type\":\"error\"," + body.substr(1);
  }
  auto& frame = std::get<ws_frame>(p);
  // As over HTTP: behind nginx this connection was routed by its X-Game-Id (DESIGN 10).
  auto* snap = std::get_if<workers::snapshot>(&frame);
  const std::string& frame_game = snap ? snap->game_id : std::get<workers::chat_turn>(frame).game_id;
  if (auto bad = game_header_mismatch(header_game, frame_game, snap ? "invalid_snapshot" : "invalid_turn")) {
    bad_requests_.inc();
    return "{\"type\":\"error\"," + bad->substr(1);
  }
  submit_outcome out;
  // A frame's snapshot is a new object, not a pooled one: frames go through the reference
  // decoder (parse_ws_frame), which builds its own snapshot; WebSocket snapshots are the rare path.
  if (auto* s = std::get_if<workers::snapshot>(&frame))
    out = submit_snapshot(std::make_shared<workers::snapshot>(std::move(*s)));
  else
    out = submit_turn(std::make_shared<workers::chat_turn>(std::move(std::get<workers::chat_turn>(frame))));
  if (out.status >= 400) return "{\"type\":\"error\"," + out.body.substr(1);
  // Accepted frames are acknowledged like their HTTP answers, as an `ack` frame.
  return "{\"type\":\"ack\"," + out.body.substr(1);
}

bool router::is_ws_route(std::string_view target) { return split_target(target).path == "/letta/v1/ws"; }

std::optional<http_response> router::check_headers(const http_request& req) {
  auto parts = split_target(req.target());
  return check_route(req, parts.path, find_route(parts.path));
}

std::optional<http_response> router::check_route(const http_request& req, std::string_view path, const void* route) {
  const auto* r = static_cast<const route_info*>(route);
  const unsigned version = req.version();
  const bool ka = req.keep_alive();
  if (!(r && r->id == route_id::healthz) && !authorized(req)) {
    auto res =
        json_response(401, error_body("unauthorized", "Authorization: expected a valid bearer token"), version, ka);
    res.set(http::field::www_authenticate, "Bearer");
    bad_requests_.inc();
    return res;
  }
  if (!r) {
    bad_requests_.inc();
    return json_response(404, error_body("not_found", "no route " + std::string(path)), version, ka);
  }
  if (req.method() != r->method) {
    auto res = json_response(
        405, error_body("method_not_allowed", std::string(path) + " takes " + std::string(http::to_string(r->method))),
        version, ka);
    res.set(http::field::allow, http::to_string(r->method));
    bad_requests_.inc();
    return res;
  }
  return std::nullopt;
}

std::optional<http_response> router::check_ws_upgrade(const http_request& req, std::string& game,
                                                      std::uint64_t& since) {
  const bool ka = req.keep_alive();
  if (!authorized(req))
    return json_response(401, error_body("unauthorized", "Authorization: expected a valid bearer token"), req.version(),
                         false);
  auto parts = split_target(req.target());
  auto* g = query_param(parts, "gameId");
  if (!g || g->empty() || g->size() > 256) {
    bad_requests_.inc();
    return json_response(400, error_body("invalid_request", "gameId: required query parameter"), req.version(), ka);
  }
  game = *g;
  if (auto bad = game_header_mismatch(req["X-Game-Id"], game, "invalid_request")) {
    bad_requests_.inc();
    return json_response(400, std::move(*bad), req.version(), ka);
  }
  since = 0;
  if (auto* s = query_param(parts, "since"); s && !parse_u64(*s, since)) {
    bad_requests_.inc();
    return json_response(400, error_body("invalid_request", "since: expected a non-negative integer"), req.version(),
                         ka);
  }
  if (auto refusal = admit_subscriber(game)) return to_response(std::move(*refusal), req.version(), false);
  return std::nullopt;
}

bool router::is_snapshot_route(std::string_view target) {
  const route_info* r = find_route(split_target(target).path);
  return r && r->id == route_id::snapshot;
}

std::optional<http_response> router::check_request(const http_request& req, std::string_view path, const void* route) {
  if (auto refusal = check_route(req, path, route)) return refusal;
  const auto* r = static_cast<const route_info*>(route);
  if (r->method == http::verb::post && !is_json_content_type(req[http::field::content_type])) {
    bad_requests_.inc();
    return json_response(415, error_body("unsupported_media_type", "Content-Type: expected application/json"),
                         req.version(), req.keep_alive());
  }
  return std::nullopt;
}

void router::snapshot_route(const http_request& req, std::string_view body, std::size_t readable_after,
                            const respond_fn& respond, std::string* accepted_bytes) {
  const unsigned version = req.version();
  const bool ka = req.keep_alive();
  auto answer = [&](unsigned status, std::string b) {
    if (status >= 400 && status < 500) bad_requests_.inc();
    respond(json_response(status, std::move(b), version, ka));
  };
  // Parsed into a pooled snapshot, which becomes the message payload as it is.
  auto p = snapshots_.parse(body, req["X-Game-Id"], readable_after);
  if (auto* e = std::get_if<codec_error>(&p)) return answer(e->status, error_body(*e));
  auto& snap = std::get<std::shared_ptr<workers::snapshot>>(p);
  if (auto bad = game_header_mismatch(req["X-Game-Id"], snap->game_id, "invalid_snapshot"))
    return answer(400, std::move(*bad));
  auto out = submit_snapshot(std::move(snap));
  if (accepted_bytes && out.status == 202 && version == 11 && ka) return render_accepted(out.body, *accepted_bytes);
  respond(to_response(std::move(out), version, ka));
}

void router::handle_snapshot(const http_request& req, std::string_view body, std::size_t readable_after,
                             respond_fn respond, std::string* accepted_bytes) {
  auto parts = split_target(req.target());
  const route_info* r = find_route(parts.path);
  if (auto refusal = check_request(req, parts.path, r)) return respond(std::move(*refusal));
  if (r->id != route_id::snapshot) {
    // The server calls this for the snapshot route only; anything else is not served here.
    bad_requests_.inc();
    return respond(json_response(404, error_body("not_found", "no route"), req.version(), req.keep_alive()));
  }
  snapshot_route(req, body, readable_after, respond, accepted_bytes);
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
  if (auto refusal = check_request(req, parts.path, r)) return respond(std::move(*refusal));

  switch (r->id) {
    case route_id::snapshot:
      // The server reserved padding after the body (http_server.cpp): parsed where it was read.
      return snapshot_route(req, req.body(), req.body().capacity() - req.body().size(), respond);
    case route_id::chat_turn: {
      auto p = parse_chat_turn(req.body());
      if (auto* e = std::get_if<codec_error>(&p)) return answer(e->status, error_body(*e));
      if (auto bad = game_header_mismatch(req["X-Game-Id"], std::get<workers::chat_turn>(p).game_id, "invalid_turn"))
        return answer(400, std::move(*bad));
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
      if (!s_.debug_block)
        return answer(404, error_body("not_found", "debug blocks exist only with letta.backend: simulated"));
      auto* agent = query_param(parts, "agentId");
      auto* label = query_param(parts, "label");
      if (!agent || agent->empty())
        return answer(400, error_body("invalid_request", "agentId: required query parameter"));
      if (!label || label->empty())
        return answer(400, error_body("invalid_request", "label: required query parameter"));
      auto v = s_.debug_block(*agent, *label);
      if (!v) return answer(404, error_body("not_found", "no block " + *label + " for " + *agent));
      return answer(200, "{\"agentId\":" + json_quote(*agent) + ",\"label\":" + json_quote(*label) +
                             ",\"value\":" + json_quote(*v) + "}");
    }
    case route_id::unknown:
      break;
  }
  answer(404, error_body("not_found", "no route"));
}

}  // namespace orch::daemon
