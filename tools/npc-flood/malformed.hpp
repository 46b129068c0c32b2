#pragma once
// Bad requests for the `malformed` scenario: each is something a broken or hostile game
// server could send, and the daemon must answer every one with a 4xx (never a 5xx, never a
// dropped connection) and stay up (DESIGN 3). Pure code, header-only for the tests.
//
// Thread-safety: plain functions. Failure: never throws except std::bad_alloc.
#include <array>
#include <cstddef>
#include <string>

namespace orch::tools {

// One HTTP request as the flood sends it, independent of Beast.
struct raw_request {
  std::string method = "POST";
  std::string target;
  std::string content_type = "application/json";
  std::string body;
  std::string game_id;  // sent as X-Game-Id when set (--game-id-header)
  std::string label;    // kind of request, for the report
  int expected = 0;     // the status the contract names (informational; any 4xx passes)
};

inline constexpr std::array<const char*, 15> malformed_kinds = {
    "invalid_json",        "wrong_type", "missing_field",  "huge_body",    "wrong_content_type", "nan",
    "deep_nesting",        "bad_utf8",   "unknown_route",  "wrong_method", "chat_no_text",       "chat_speaker_type",
    "number_out_of_range", "empty_body", "top_level_array"};

inline constexpr const char* snapshot_path = "/letta/v1/snapshot/game";
inline constexpr const char* chat_turn_path = "/letta/v1/chat/turn";

// A valid-looking snapshot prefix for game `g` up to (not including) `humanContext`.
inline std::string snapshot_head(const std::string& g) {
  return "{\"gameId\":\"" + g + "\",\"timestamp\":1737874917,\"events\":[],\"clusters\":[],";
}

// Bad request number `kind` (index into malformed_kinds) for game `g`.
inline raw_request malformed_request(std::size_t kind, const std::string& g) {
  raw_request r;
  r.target = snapshot_path;
  r.label = malformed_kinds[kind % malformed_kinds.size()];
  r.expected = 400;
  const std::string ok_entity = "\"humanContext\":{\"Diamond\":{\"position\":{\"x\":1.5,\"y\":3,\"z\":-2}}}}";
  switch (kind % malformed_kinds.size()) {
    case 0:  // truncated document
      r.body = snapshot_head(g) + "\"humanContext\":{\"Diamond\":{\"position\":{\"x\":1";
      break;
    case 1:  // a field present with the wrong type
      r.body = snapshot_head(g) + "\"humanContext\":{\"Diamond\":{\"position\":{\"x\":\"a\",\"y\":3,\"z\":1}}}}";
      break;
    case 2:  // required field missing
      r.body = "{\"gameId\":\"" + g + "\",\"timestamp\":1737874917,\"events\":[],\"clusters\":[]}";
      break;
    case 3: {  // more than 1 MiB (server.max_body_bytes default)
      r.expected = 413;
      std::string pad(1200 * 1024, 'a');
      r.body = snapshot_head(g) + "\"humanContext\":{\"Diamond\":{\"location\":\"" + pad + "\"}}}";
      break;
    }
    case 4:  // a valid body under a non-JSON content type
      r.expected = 415;
      r.content_type = "text/plain";
      r.body = snapshot_head(g) + ok_entity;
      break;
    case 5:
      r.body = "{\"gameId\":\"" + g + "\",\"timestamp\":NaN,\"events\":[],\"clusters\":[],\"humanContext\":{}}";
      break;
    case 6: {  // far deeper than any sane limit, still well under 1 MiB
      constexpr std::size_t depth = 100000;
      r.body =
          snapshot_head(g) + "\"humanContext\":{},\"x\":" + std::string(depth, '[') + std::string(depth, ']') + "}";
      break;
    }
    case 7:  // invalid UTF-8 inside a string
      r.body = snapshot_head(g) + "\"humanContext\":{\"Dia\xff\xfemond\":{}}}";
      break;
    case 8:
      r.expected = 404;
      r.target = "/letta/v1/no-such-route";
      r.body = "{}";
      break;
    case 9:
      r.expected = 405;
      r.method = "GET";
      r.content_type.clear();
      break;
    case 10:
      r.target = chat_turn_path;
      r.body = "{\"gameId\":\"" + g + "\",\"speaker\":{\"name\":\"Diamond\",\"kind\":\"player\"}}";
      break;
    case 11:
      r.target = chat_turn_path;
      r.body = "{\"gameId\":\"" + g + "\",\"speaker\":5,\"text\":\"hi\"}";
      break;
    case 12:
      r.body = "{\"gameId\":\"" + g + "\",\"timestamp\":1e400,\"events\":[],\"clusters\":[],\"humanContext\":{}}";
      break;
    case 13:
      r.body.clear();
      break;
    default:
      r.body = "[" + snapshot_head(g) + ok_entity + "]";
      break;
  }
  return r;
}

}  // namespace orch::tools
