#pragma once
// fake-letta's memory: agents, blocks, conversations and threads, request records, concurrency tracking and injected
// faults. Owned by the server; used from its single io_context thread only (not thread-safe).
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace fake_letta {

// One message of a thread (a conversation's or an agent's), as LettaMessage renders it.
struct thread_message {
  std::string id, type, content, otid;  // type: user_message | system_message | assistant_message
};

// A per-game conversation (Letta 0.16.7): its agent, summary, isolated blocks and thread.
struct conversation {
  std::string agent, summary;
  std::vector<std::string> blocks;
  std::vector<thread_message> thread;
};

// A block addressed by id (the isolated blocks of conversations).
struct id_block {
  std::string agent, label, value, conversation;
};

struct fault {
  std::string mode;  // 429 | 409_retry_after | 503 | timeout | drop | slow | land_late
  std::uint64_t left = 0;
  std::string agent;  // empty = any request to /v1
};

class fake_state {
 public:
  std::set<std::string> agents;  // empty = every "agent-..." id exists
  std::string token;
  std::chrono::milliseconds latency{0};

  bool agent_exists(const std::string& id) const {
    return agents.empty() ? id.rfind("agent-", 0) == 0 : agents.count(id) != 0;
  }
  // Records one /v1 request (arrival, endpoint, agent) for the stats.
  void record(const std::string& endpoint, const std::string& agent);
  // The next matching fault, consumed; nullopt when none. land_late faults match message
  // calls only (`message_call`), so a block call does not use them up.
  std::optional<std::string> take_fault(const std::string& agent, bool message_call = true);
  void add_fault(fault f) { faults_.push_back(std::move(f)); }
  void clear_faults() { faults_.clear(); }

  // Per-agent busy tracking: returns the number in progress including this one.
  std::uint32_t enter(const std::string& agent);
  void leave(const std::string& agent) { --busy_[agent]; }
  void violation() { ++violations_; }
  void answered_200(const std::string& otid) { ++otids_[otid]; }

  std::map<std::pair<std::string, std::string>, std::string> blocks;
  std::uint64_t block_seq = 0;

  // Conversations, blocks by id, the agents' own threads (agent mode).
  std::map<std::string, conversation> conversations;
  std::map<std::string, id_block> id_blocks;
  std::map<std::string, std::vector<thread_message>> agent_threads;
  std::uint64_t conversation_seq = 0, message_seq = 0;
  std::map<std::string, std::uint64_t> steps;  // message steps run, per conversation id
  // land_late: how long after recording a message the answer goes out.
  std::chrono::milliseconds land_late_delay{3000};
  // Per-conversation busy tracking: returns the number in progress in it, this one included.
  std::uint32_t enter_conversation(const std::string& id);
  void leave_conversation(const std::string& id);
  void conversation_violation() { ++conversation_violations_; }

  std::string stats_json() const;
  // GET /_fake/conversations[?agent_id=]: each conversation with its blocks by label, the
  // user messages of its thread and how many of their otids appear more than once.
  std::string conversations_json(const std::string& agent) const;

 private:
  std::map<std::string, std::uint64_t> per_endpoint_, per_agent_, otids_;
  std::map<std::string, std::uint32_t> busy_;
  std::uint32_t max_concurrent_ = 0;
  std::uint64_t violations_ = 0, total_ = 0, faults_injected_ = 0;
  std::deque<std::chrono::steady_clock::time_point> window_;
  std::size_t max_per_1s_ = 0;
  std::deque<fault> faults_;
  std::map<std::string, std::uint32_t> conversation_busy_;
  std::map<std::string, std::uint64_t> conversation_requests_;
  std::uint32_t max_concurrent_per_conversation_ = 0, conversations_busy_ = 0, max_conversations_busy_ = 0;
  std::uint64_t conversation_violations_ = 0;
};

}  // namespace fake_letta
