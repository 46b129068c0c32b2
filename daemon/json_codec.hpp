#pragma once
// Parsing and validation of the JSON bodies the daemon accepts (DESIGN 3.1, 3.2): a body is
// parsed once, its shape validated before anything is looked up, and turned into the plain
// structs the workers take. Errors name the field path.
//
// Pure functions of their input: thread-safe, no I/O. How it fails: a codec_error with the
// HTTP status, the error code and a detail naming the field.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "workers/chat_turn.hpp"
#include "workers/json_text.hpp"
#include "workers/snapshot.hpp"

namespace orch::daemon {

struct codec_error {
  unsigned status = 400;
  std::string code;                   // "invalid_json", "invalid_snapshot", "invalid_turn", ...
  std::string detail;                 // names the field path
  std::optional<std::size_t> offset;  // for invalid_json: byte offset of the error
};

template <class T>
using parsed = std::variant<T, codec_error>;

// Bodies nested deeper than this are invalid_json (RapidJSON's recursive parser would
// otherwise overflow the stack; we also parse iteratively).
inline constexpr std::size_t max_json_depth = 64;

// POST /letta/v1/snapshot/game. `header_game_id` is X-Game-Id (may be empty). A good body
// takes the one-pass SAX reader (daemon/snapshot_reader.hpp); anything else goes to the
// reference decoder below, which names the error's field path. `readable_after`: allocated
// bytes after the body in its buffer (read_snapshot_fast parses in place with enough of them).
parsed<workers::snapshot> parse_snapshot(std::string_view body, std::string_view header_game_id,
                                         std::size_t readable_after = 0);
// The DOM decoder: parse, then validate with field paths. parse_snapshot's answer is always
// exactly this one's (tests compare the two on random bodies).
parsed<workers::snapshot> parse_snapshot_reference(std::string_view body, std::string_view header_game_id);

// POST /letta/v1/chat/turn: {gameId, speaker:{name,id?,kind?}, text, target?}.
parsed<workers::chat_turn> parse_chat_turn(std::string_view body);

// POST /letta/v1/chat/v3 (the original shape). The game comes from X-Game-Id or is resolved
// later by NPC; the speaker is messages[last user].name or context.participant_name.
parsed<workers::chat_turn> parse_chat_v3(std::string_view body, std::string_view header_game_id);

// A WebSocket frame: {"type":"snapshot",...} (a snapshot body) or {"type":"chat",...} (a
// /chat/turn body). Anything else is an error naming `type`. `header_game_id` is the upgrade
// request's X-Game-Id (may be empty): a snapshot frame without gameId takes it, as over HTTP.
using ws_frame = std::variant<workers::snapshot, workers::chat_turn>;
parsed<ws_frame> parse_ws_frame(std::string_view body, std::string_view header_game_id = {});

// The JSON error body {"error":..,"detail":..[,"offset":N]}.
std::string error_body(const codec_error& e);
std::string error_body(std::string_view code, std::string_view detail);

using workers::json_quote;
using workers::json_quote_into;

}  // namespace orch::daemon
