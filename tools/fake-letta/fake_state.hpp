#pragma once
// fake-letta's memory: agents, blocks, request records, concurrency tracking and injected
// faults. Owned by the server; used from its single io_context thread only (not thread-safe).
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace fake_letta {

struct fault {
  std::string mode;  // 429 | 409_retry_after | 503 | timeout | drop | slow
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
  // The next matching fault, consumed; nullopt when none.
  std::optional<std::string> take_fault(const std::string& agent);
  void add_fault(fault f) { faults_.push_back(std::move(f)); }
  void clear_faults() { faults_.clear(); }

  // Per-agent busy tracking: returns the number in progress including this one.
  std::uint32_t enter(const std::string& agent);
  void leave(const std::string& agent) { --busy_[agent]; }
  void violation() { ++violations_; }
  void answered_200(const std::string& otid) { ++otids_[otid]; }

  std::map<std::pair<std::string, std::string>, std::string> blocks;
  std::uint64_t block_seq = 0;

  std::string stats_json() const;

 private:
  std::map<std::string, std::uint64_t> per_endpoint_, per_agent_, otids_;
  std::map<std::string, std::uint32_t> busy_;
  std::uint32_t max_concurrent_ = 0;
  std::uint64_t violations_ = 0, total_ = 0, faults_injected_ = 0;
  std::deque<std::chrono::steady_clock::time_point> window_;
  std::size_t max_per_1s_ = 0;
  std::deque<fault> faults_;
};

}  // namespace fake_letta
