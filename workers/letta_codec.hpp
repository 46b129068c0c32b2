#pragma once
// Pure encoding and decoding of Letta's REST bodies (openapi.json, Letta 0.16.7): the request
// bodies the client sends and the answers it reads. Shared by letta_http, letta_simulated,
// fake-letta and the contract tests. No I/O, no state; thread-safe. Parse failures return
// false / nullopt, never throw.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workers/json_text.hpp"
#include "workers/letta_client.hpp"

namespace orch::workers {

// Paths (agent ids and labels are percent-encoded where needed).
std::string messages_target(std::string_view agent_id);
std::string block_target(std::string_view agent_id, std::string_view label);
std::string agent_target(std::string_view agent_id);
inline std::string health_target() { return "/v1/health/"; }

// LettaStreamingRequest: {"messages":[{"role","content","name"?,"otid"?}],"use_assistant_message":true}
// (`name` and `otid` omitted when empty; `streaming` left out = false).
std::string build_messages_body(const std::vector<letta_message>& messages);
// BlockUpdate: {"value": value}.
std::string build_block_update_body(std::string_view value);

// Reads a LettaStreamingRequest body back (fake-letta, simulated backend). `content` given
// as text parts is joined. nullopt when the body is not such a request or has no messages.
std::optional<std::vector<letta_message>> parse_messages_body(std::string_view body);
// Reads BlockUpdate's value; nullopt when absent or not a string.
std::optional<std::string> parse_block_update_body(std::string_view body);

// LettaResponse: assistant_message contents (string, or text parts) joined by "\n", and
// tool_call_message.tool_call {name, arguments}, and usage's prompt/completion tokens.
// False when not a LettaResponse.
bool parse_letta_response(std::string_view body, letta_reply& out);
// BlockResponse's value; nullopt when the body has none.
std::optional<std::string> parse_block_value(std::string_view body);

}  // namespace orch::workers
