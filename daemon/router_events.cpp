// GET /letta/v1/events (DESIGN 3.3): the long-poll. Answers at once when events after
// `since` exist (or a reset is due, or wait_ms is 0); otherwise waits, through an
// event_wait, for the game's next event or wait_ms, and then reads again.
#include "daemon/event_wait.hpp"
#include "daemon/http_target.hpp"
#include "daemon/router.hpp"

namespace orch::daemon {

namespace net = boost::asio;

namespace {

constexpr std::size_t max_events_per_answer = 1000;

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
  if (auto mismatch = game_header_mismatch(req["X-Game-Id"], *g, "invalid_request")) {
    bad_requests_.inc();
    return respond(json_response(400, std::move(*mismatch), version, ka));
  }
  std::uint64_t since = 0, wait_ms = 0;
  if (auto* s = query_param(parts, "since"); s && !parse_u64(*s, since))
    return bad("since: expected a non-negative integer");
  auto cfg = s_.current_config();
  const auto max_wait = static_cast<std::uint64_t>(cfg->events.max_wait.count());
  if (auto* w = query_param(parts, "wait_ms"); w && (!parse_u64(*w, wait_ms) || wait_ms > max_wait))
    return bad("wait_ms: expected an integer from 0 to " + std::to_string(max_wait));
  std::string game = *g;

  auto r = s_.events.read(game, since, max_events_per_answer);
  if (!r.events.empty() || r.reset || wait_ms == 0) return respond(json_response(200, events_body(r), version, ka));

  if (auto refusal = admit_subscriber(game)) {
    bad_requests_.inc();
    return respond(to_response(std::move(*refusal), version, ka));
  }
  // Subscribe first, then look again, so that an event published in between is not missed;
  // answer on the first event or at the timer, with a fresh read either way.
  auto w = event_wait::start(
      s_.events, game, ex, [](const queues::event&) { return std::optional<std::string>(std::string()); },
      [this, game, since, version, ka, respond](std::optional<std::string>) {
        respond(json_response(200, events_body(s_.events.read(game, since, max_events_per_answer)), version, ka));
      });
  w->arm(std::chrono::milliseconds(wait_ms));
  if (s_.events.last_seq(game) > since) w->finish_now(std::string());
}

}  // namespace orch::daemon
