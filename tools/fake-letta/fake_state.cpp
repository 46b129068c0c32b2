#include "tools/fake-letta/fake_state.hpp"

#include <algorithm>

#include "workers/letta_codec.hpp"

namespace fake_letta {

void fake_state::record(const std::string& endpoint, const std::string& agent) {
  ++total_;
  ++per_endpoint_[endpoint];
  if (!agent.empty()) ++per_agent_[agent];
  const auto now = std::chrono::steady_clock::now();
  while (!window_.empty() && now - window_.front() >= std::chrono::seconds(1)) window_.pop_front();
  window_.push_back(now);
  max_per_1s_ = std::max(max_per_1s_, window_.size());
}

std::optional<std::string> fake_state::take_fault(const std::string& agent, bool message_call) {
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if (!it->agent.empty() && it->agent != agent) continue;
    if (it->mode == "land_late" && !message_call) continue;
    std::string mode = it->mode;
    if (--it->left == 0) faults_.erase(it);
    ++faults_injected_;
    return mode;
  }
  return std::nullopt;
}

std::uint32_t fake_state::enter(const std::string& agent) {
  const std::uint32_t n = ++busy_[agent];
  max_concurrent_ = std::max(max_concurrent_, n);
  return n;
}

std::uint32_t fake_state::enter_conversation(const std::string& id) {
  ++conversation_requests_[id];
  const std::uint32_t n = ++conversation_busy_[id];
  if (n == 1) max_conversations_busy_ = std::max(max_conversations_busy_, ++conversations_busy_);
  max_concurrent_per_conversation_ = std::max(max_concurrent_per_conversation_, n);
  return n;
}

void fake_state::leave_conversation(const std::string& id) {
  if (--conversation_busy_[id] == 0) --conversations_busy_;
}

std::string fake_state::conversations_json(const std::string& agent) const {
  using orch::workers::json_quote;
  std::string out = "[";
  for (const auto& [id, c] : conversations) {
    if (!agent.empty() && c.agent != agent) continue;
    if (out.size() > 1) out += ',';
    out += "{\"id\":" + json_quote(id) + ",\"agent_id\":" + json_quote(c.agent) +
           ",\"summary\":" + json_quote(c.summary) + ",\"blocks\":{";
    bool first = true;
    for (const auto& bid : c.blocks) {
      auto b = id_blocks.find(bid);
      if (b == id_blocks.end()) continue;
      if (!first) out += ',';
      first = false;
      out += json_quote(b->second.label) + ":" + json_quote(b->second.value);
    }
    std::map<std::string, int> seen;
    std::size_t users = 0, duplicates = 0;
    for (const auto& m : c.thread) {
      if (m.type != "user_message") continue;
      ++users;
      if (!m.otid.empty() && ++seen[m.otid] == 2) ++duplicates;
    }
    auto st = steps.find(id);
    out += "},\"user_messages\":" + std::to_string(users) + ",\"duplicate_otids\":" + std::to_string(duplicates) +
           ",\"steps\":" + std::to_string(st == steps.end() ? 0 : st->second) + "}";
  }
  return out + "]";
}

static void put_map(std::string& out, const char* key, const std::map<std::string, std::uint64_t>& m) {
  out += '"';
  out += key;
  out += "\":{";
  bool first = true;
  for (auto& [k, v] : m) {
    if (!first) out += ',';
    first = false;
    out += orch::workers::json_quote(k) + ":" + std::to_string(v);
  }
  out += '}';
}

std::string fake_state::stats_json() const {
  std::string out = "{\"total\":" + std::to_string(total_) + ",";
  put_map(out, "requests", per_endpoint_);
  out += ',';
  put_map(out, "agents", per_agent_);
  out += ',';
  put_map(out, "otids_200", otids_);
  out += ',';
  put_map(out, "conversation_requests", conversation_requests_);
  out += ',';
  put_map(out, "conversation_steps", steps);
  out += ",\"conversations\":" + std::to_string(conversations.size()) +
         ",\"max_concurrent_per_conversation\":" + std::to_string(max_concurrent_per_conversation_) +
         ",\"max_conversations_busy\":" + std::to_string(max_conversations_busy_) +
         ",\"conversation_violations\":" + std::to_string(conversation_violations_);
  out += ",\"max_concurrent_per_agent\":" + std::to_string(max_concurrent_) +
         ",\"concurrency_violations\":" + std::to_string(violations_) +
         ",\"max_per_1s\":" + std::to_string(max_per_1s_) + ",\"faults_injected\":" + std::to_string(faults_injected_) +
         "}";
  return out;
}

}  // namespace fake_letta
