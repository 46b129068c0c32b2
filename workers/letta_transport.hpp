#pragma once
// letta_transport: one raw request to Letta, no policy. The call discipline (letta_discipline)
// decides when a request goes out and whether to retry; a transport only carries it.
// Implementations: letta_http (Beast client) and letta_simulated (in-process).
//
// Thread-safety: execute() may be called from any thread. The callback runs exactly once, on
// an io_context thread, never inline. How it fails: a request with no HTTP answer completes with
// status 0 and error "timeout" | "connection" | "too_large"; otherwise status is the HTTP code.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace orch::workers {

enum class letta_endpoint : std::uint8_t {
  messages,
  block_get,
  block_update,
  agent_get,
  health,
  conversation_list,    // GET /v1/conversations/?agent_id=&summary_search=
  conversation_create,  // POST /v1/conversations/?agent_id=
  messages_list,        // GET the newest messages of a conversation (or agent)
};

inline const char* to_string(letta_endpoint e) {
  switch (e) {
    case letta_endpoint::messages:
      return "messages";
    case letta_endpoint::block_get:
      return "block_get";
    case letta_endpoint::block_update:
      return "block_update";
    case letta_endpoint::agent_get:
      return "agent_get";
    case letta_endpoint::health:
      return "health";
    case letta_endpoint::conversation_list:
      return "conversation_list";
    case letta_endpoint::conversation_create:
      return "conversation_create";
    case letta_endpoint::messages_list:
      return "messages_list";
  }
  return "messages";
}

struct transport_request {
  letta_endpoint endpoint = letta_endpoint::health;
  std::string method;           // "GET" | "POST" | "PATCH"
  std::string target;           // path below base_url, e.g. "/v1/agents/agent-.../messages"
  std::string body;             // JSON, empty for GET
  std::string agent_id;         // empty for health
  std::string label;            // block label for block_get / block_update
  std::string conversation_id;  // per-game calls: the conversation (messages, messages_list)
  std::string block_id;         // per-game block calls: the isolated block, by id
};

struct transport_response {
  int status = 0;  // HTTP status; 0 = no response
  std::string body;
  std::string error;  // when status == 0: "timeout" | "connection" | "too_large"
  std::optional<std::chrono::milliseconds> retry_after;
};

class letta_transport {
 public:
  using response_fn = std::function<void(transport_response)>;
  virtual ~letta_transport() = default;
  virtual void execute(transport_request req, response_fn cb) = 0;
};

}  // namespace orch::workers
