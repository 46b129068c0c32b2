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

std::optional<std::string> fake_state::take_fault(const std::string& agent) {
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if (!it->agent.empty() && it->agent != agent) continue;
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
  out += ",\"max_concurrent_per_agent\":" + std::to_string(max_concurrent_) +
         ",\"concurrency_violations\":" + std::to_string(violations_) +
         ",\"max_per_1s\":" + std::to_string(max_per_1s_) +
         ",\"faults_injected\":" + std::to_string(faults_injected_) + "}";
  return out;
}

}  // namespace fake_letta
