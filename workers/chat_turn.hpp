#pragma once
// A chat turn as parsed and validated by the codec, from `/letta/v1/chat/turn`, the original
// `/letta/v1/chat/v3`, or a WebSocket `chat` frame (DESIGN 3.2).
#include <optional>
#include <string>
#include <vector>

namespace orch::workers {

struct chat_turn {
  std::string turn_id;       // assigned by the daemon on accept; events' inReplyTo
  std::string game_id;       // empty for /chat/v3 without X-Game-Id: resolved by NPC
  std::string speaker_name;  // display name
  std::string speaker_id;    // optional (player userId or npc id)
  std::string speaker_kind;  // "player" | "npc" | "" (unknown: registry decides, else player)
  std::string text;
  std::string target;          // display name or npc id; may be empty
  bool system_notice = false;  // text starts with "[SYSTEM]"
  // /chat/v3 only: the addressed NPC's registry id; the HTTP session waits for its reply.
  bool from_v3 = false;
  std::string v3_npc_id;
};

}  // namespace orch::workers
