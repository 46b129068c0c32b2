#pragma once
// The daemon's view of Letta: send a message to an agent, read and write a core-memory block,
// look an agent up. Two backends implement it: `http` (a real Letta server, or fake-letta)
// and `simulated` (in-process, configurable latency, no network). Both sit behind the same
// call discipline (one request in flight per agent, global in-flight cap, rate limits,
// retries with backoff, circuit breaker), so a flood against the simulated backend shows the
// same rate limiting as production.
//
// Thread-safety: every member may be called from any thread. Callbacks run on an io_context
// thread, exactly once per call, never inline in the calling function. How it fails: a call
// that still fails after its retries completes with ok == false and a reason; it is never
// dropped silently.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace orch::workers {

struct letta_message {
  std::string role;  // "user" | "system" | "assistant"
  std::string content;
  std::string name;  // speaker's display name (may be empty for system)
  std::string otid;  // client-chosen idempotency id; filled in by the client when empty
};

struct letta_tool_call {
  std::string name;
  std::string arguments;  // JSON text
};

struct letta_result {
  bool ok = false;
  int http_status = 0;  // last status seen (0 = no response: timeout, connection error)
  std::string error;    // short reason when !ok: "timeout", "breaker_open", "not_found", ...
  std::uint32_t attempts = 0;
};

struct letta_reply {
  std::string text;  // the assistant_message contents, joined by "\n"
  std::vector<letta_tool_call> tool_calls;
  std::uint64_t prompt_tokens = 0;  // from the response's usage (0 when absent)
  std::uint64_t completion_tokens = 0;
};

// What a message call is for (DESIGN 5.4): a reply to a player starts before an NPC's other
// speech, which starts before block syncs.
enum class letta_call_class : std::uint8_t { reply = 0, npc = 1 };

class letta_client {
 public:
  virtual ~letta_client() = default;

  using reply_fn = std::function<void(letta_result, letta_reply)>;
  using block_fn = std::function<void(letta_result, std::string value)>;
  using done_fn = std::function<void(letta_result)>;

  // POST /v1/agents/{agent_id}/messages (non-streaming).
  virtual void send_messages(const std::string& agent_id, std::vector<letta_message> messages, reply_fn cb) = 0;
  // The same, with its class (send_messages is class npc).
  virtual void send_messages_as(letta_call_class cls, const std::string& agent_id, std::vector<letta_message> messages,
                                reply_fn cb) {
    (void)cls;
    send_messages(agent_id, std::move(messages), std::move(cb));
  }
  // GET /v1/agents/{agent_id}/core-memory/blocks/{label}.
  virtual void get_block(const std::string& agent_id, const std::string& label, block_fn cb) = 0;
  // PATCH the same path with {"value": value}.
  virtual void update_block(const std::string& agent_id, const std::string& label, std::string value, done_fn cb) = 0;
  // GET /v1/agents/{agent_id} (agent verification).
  virtual void get_agent(const std::string& agent_id, done_fn cb) = 0;
  // GET /v1/health/ (readiness).
  virtual void health(done_fn cb) = 0;
  // The agents verification found missing (DESIGN 5.4): until a later verification finds
  // them, their message and block calls fail at once ("agent_missing") without a request.
  // Replaces the previous set. Clients without call discipline ignore it.
  virtual void set_missing_agents(std::vector<std::string> agents) { (void)agents; }
  // How many message calls to the agent have ended (any outcome) since this client started,
  // or nullopt when the client does not count them. An agent changes its own blocks only
  // while it runs a step, so a block is unchanged since the daemon wrote it when this count
  // has not moved since (DESIGN 5.4, cheap syncs).
  virtual std::optional<std::uint64_t> message_steps(const std::string& agent_id) const {
    (void)agent_id;
    return std::nullopt;
  }

  // Per-game calls (DESIGN 5.4, letta.conversations). In per_game mode they go to the
  // (agent, game) conversation (messages to it, the isolated group_members and status blocks
  // by id), found or created by the lane's first call; otherwise, and by default, they are the
  // agent-wide calls above.
  virtual void send_in_game(letta_call_class cls, const std::string& agent_id, const std::string& game_id,
                            std::vector<letta_message> messages, reply_fn cb) {
    (void)game_id;
    send_messages_as(cls, agent_id, std::move(messages), std::move(cb));
  }
  virtual void get_game_block(const std::string& agent_id, const std::string& game_id, const std::string& label,
                              block_fn cb) {
    (void)game_id;
    get_block(agent_id, label, std::move(cb));
  }
  virtual void update_game_block(const std::string& agent_id, const std::string& game_id, const std::string& label,
                                 std::string value, done_fn cb) {
    (void)game_id;
    update_block(agent_id, label, std::move(value), std::move(cb));
  }
  virtual std::optional<std::uint64_t> game_message_steps(const std::string& agent_id,
                                                          const std::string& game_id) const {
    (void)game_id;
    return message_steps(agent_id);
  }
  // The game was evicted: drop what is kept per (agent, game) for it (the conversation ids
  // cached; Letta keeps the conversations, found again by summary when the game returns).
  virtual void forget_game(const std::string& game_id) { (void)game_id; }
  // The app is unwinding after its io threads were joined: drop every call not yet finished
  // without calling it back, and every later one. Their callbacks may own this client.
  virtual void stop() {}
  // The key that orders one Letta lane's work in the dispatcher: the agent, or in per_game
  // mode the agent and the game (so one agent is not serialised across games).
  virtual std::string lane_key(const std::string& agent_id, const std::string& game_id) const {
    (void)game_id;
    return agent_id;
  }
  // The same key appended to `out` (which keeps its buffer: no allocation once it is large enough).
  virtual void append_lane_key(std::string& out, const std::string& agent_id, const std::string& game_id) const {
    out += lane_key(agent_id, game_id);
  }
};

}  // namespace orch::workers
