// POST /letta/v1/chat/v3 (DESIGN 3.2): the original synchronous chat. The turn is submitted
// like any other; the answer waits (chat.sync_wait_ms at most) for the addressed NPC's
// npc_message or the turn's turn_dropped, through an event_wait.
#include "daemon/event_wait.hpp"
#include "daemon/router.hpp"

namespace orch::daemon {

namespace net = boost::asio;

namespace {

std::string v3_body(const std::string& turn_id, const std::string* message, const std::string& conversation,
                    const std::string& extra) {
  return std::string("{\"message\":") + (message ? json_quote(*message) : "null") +
         ",\"conversation_id\":" + json_quote(conversation) +
         ",\"action\":{\"type\":\"none\"},\"metadata\":{\"turn_id\":" + json_quote(turn_id) + extra + "}}";
}

// The /chat/v3 answer an event makes, if it is this turn's reply or drop. Reads the typed
// fields filled when the event was published: no JSON is parsed here.
std::optional<std::string> v3_answer_of(const queues::event& ev, const std::string& turn_id,
                                        const std::string& npc_name) {
  const auto& m = ev.fields();
  const std::string_view type = ev.type;
  if (type == "npc_message" && m.in_reply_to == turn_id && m.npc == npc_name)
    return v3_body(turn_id, &m.text, m.conversation_id, ",\"cluster_id\":" + json_quote(m.cluster_id));
  if (type == "turn_dropped" && m.turn_id == turn_id)
    return v3_body(turn_id, nullptr, "", ",\"dropped\":" + json_quote(m.reason));
  return std::nullopt;
}

}  // namespace

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
    return respond(json_response(
        404, error_body("unknown_npc", "npc_id: " + turn->v3_npc_id + " is not in the world registry"), version, ka));
  }
  if (turn->game_id.empty()) turn->game_id = s_.views.game_of_npc(npc->id);
  if (turn->game_id.empty()) {
    bad_requests_.inc();
    return respond(json_response(
        404, error_body("unknown_game", "npc_id: " + npc->id + " has not been seen in any game; send X-Game-Id"),
        version, ka));
  }
  turn->turn_id = next_turn_id();
  const std::string turn_id = turn->turn_id, npc_name = npc->display_name;

  // Subscribe before submitting so that a quick reply cannot slip past.
  auto w = event_wait::start(
      s_.events, turn->game_id, ex,
      [turn_id, npc_name](const queues::event& ev) { return v3_answer_of(ev, turn_id, npc_name); },
      [respond, version, ka, turn_id](std::optional<std::string> answer) {
        respond(json_response(200, answer ? std::move(*answer) : v3_body(turn_id, nullptr, "", ",\"pending\":true"),
                              version, ka));
      });
  auto out = submit_turn(turn);
  if (out.status != 202) {
    w->cancel();
    return respond(to_response(std::move(out), version, ka));
  }
  w->arm(std::chrono::duration_cast<std::chrono::milliseconds>(cfg->conversation.sync_wait));
}

}  // namespace orch::daemon
