#include "policies/cooldown.hpp"

namespace orch::policies {

time_point cooldown::ready_at(const std::string& key) const {
  auto it = last_.find(key);
  return it == last_.end() ? time_point::min() : it->second + period_;
}

std::optional<time_point> cooldown::last(const std::string& key) const {
  auto it = last_.find(key);
  if (it == last_.end()) return std::nullopt;
  return it->second;
}

void cooldown::prune(time_point now) {
  std::erase_if(last_, [&](const auto& kv) { return kv.second + period_ <= now; });
}

}  // namespace orch::policies
