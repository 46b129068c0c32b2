#pragma once
// letta_simulated: an in-process Letta for demos, floods and tests (letta.backend: simulated).
// No network: each request is answered after `latency` (messages) or `block_latency` (all
// other requests; the same as `latency` unless given) on an asio timer. Every agent id
// exists; blocks live in memory (a GET of a block never written answers 404, as Letta does
// for an unknown label). Replies are deterministic: "<agent> hears you: <first 40 chars of the
// last message>". It speaks the same JSON as Letta, so the call discipline and codec run
// exactly as against a real server. Per-game conversations (create, list by summary, messages,
// isolated blocks by id) are served too; concurrency is observed per conversation.
//
// Create with std::make_shared (pending timers hold a reference). Owned by the letta client built in letta_factory
// (shared_ptr; simulated_of() hands it to the debug route). Thread-safe: a mutex guards the state; callbacks are posted
// to the io_context. Fails only on demand: fail_next() makes the next N requests answer a given status (0 = timeout),
// like Beast's fail_count, so tests can drive every retry path.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "workers/letta_transport.hpp"

namespace orch::workers {

class letta_simulated final : public letta_transport, public std::enable_shared_from_this<letta_simulated> {
 public:
  // `latency`: message calls; `block_latency`: every other request (blocks, lookups, health).
  letta_simulated(boost::asio::io_context& io, std::chrono::milliseconds latency,
                  std::optional<std::chrono::milliseconds> block_latency = std::nullopt);

  void execute(transport_request req, response_fn cb) override;

  // Edits a block "as the NPC would" (its own memory tool): creates or replaces it.
  void npc_edit(const std::string& agent_id, const std::string& label, std::string new_value);
  // The block's current value, or nullopt when never written. When the agent's own block was
  // never written, the last written isolated block of that label in any of its conversations.
  std::optional<std::string> block(const std::string& agent_id, const std::string& label) const;
  // The isolated block of the agent's conversation for `game_id` (per_game mode).
  std::optional<std::string> game_block(const std::string& agent_id, const std::string& game_id,
                                        const std::string& label) const;
  // Conversations made so far (per_game mode).
  std::size_t conversations() const;

  // Fault injection: the next `n` requests answer `status` (0 = "timeout" without a body).
  void fail_next(std::uint32_t n, int status);
  // Observations for tests.
  std::uint64_t requests() const;
  std::uint32_t max_concurrent_per_agent() const;
  std::uint64_t block_writes() const;

 private:
  transport_response answer(const transport_request& req);

  boost::asio::io_context& io_;
  std::chrono::milliseconds latency_;
  std::chrono::milliseconds block_latency_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::string> blocks_;
  // Per-game conversations: id -> (agent, summary, isolated block ids); blocks by id.
  struct sim_conversation {
    std::string agent, summary;
    std::vector<std::string> blocks;
  };
  struct sim_block {
    std::string agent, label, value;
    std::uint64_t written = 0;  // write sequence; 0 = never written
  };
  std::map<std::string, sim_conversation> conversations_;
  std::map<std::string, sim_block> id_blocks_;
  std::uint64_t conversation_seq_ = 0;
  std::unordered_map<std::string, std::uint32_t> busy_;  // requests in progress per lane (conversation or agent)
  std::uint32_t max_concurrent_ = 0;
  std::uint64_t requests_ = 0;
  std::uint64_t block_writes_ = 0;
  std::uint64_t block_seq_ = 0;
  std::uint32_t fail_count_ = 0;
  int fail_status_ = 0;
};

}  // namespace orch::workers
