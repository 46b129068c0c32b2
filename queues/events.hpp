#pragma once
// The events a game's clients receive (DESIGN 3.3), as typed structs, and the one renderer
// that turns an event and its seq into the JSON object sent on the WebSocket and long-poll.
// The event hub renders each event once, with RapidJSON's Writer into one buffer, and keeps
// the struct beside the text so that readers such as /chat/v3 match replies on typed fields
// instead of parsing JSON.
//
// Plain data: thread-safe to share once built (the hub hands out shared_ptr<const event>).
// The renderer does not fail: it writes any strings (RapidJSON escapes them).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace orch::queues {

struct event_point {
  double x = 0, y = 0, z = 0;
};

// A cluster's membership changed: every member, with the position of each that has one.
struct cluster_update {
  std::string cluster_id;
  std::vector<std::string> members;
  std::vector<std::pair<std::string, event_point>> positions;  // in members' order
  std::vector<std::string> joined;
  std::vector<std::string> left;
};

struct npc_message {
  std::string npc;
  std::string text;
  std::string conversation_id;
  std::string cluster_id;
  std::vector<std::string> audience;
  std::optional<std::string> in_reply_to;  // null when the NPC spoke unprompted
  std::optional<std::string> action;       // omitted when absent
};

struct npc_typing {
  std::string npc;
  std::string cluster_id;
  std::vector<std::string> audience;
  std::optional<std::string> in_reply_to;
};

struct conversation_state {
  std::string conversation_id;
  std::string cluster_id;
  std::vector<std::string> participants;
  std::optional<std::string> floor;  // null when nobody holds it
};

struct turn_dropped {
  std::string turn_id;
  std::string reason;
};

using event_body = std::variant<cluster_update, npc_message, npc_typing, conversation_state, turn_dropped>;

// "cluster_update", "npc_message", ... (the JSON `type`).
const char* event_type(const event_body& b);

// Appends {"seq":N,"type":..,...fields} to `out`.
void render_event(std::uint64_t seq, const event_body& b, std::string& out);

}  // namespace orch::queues
