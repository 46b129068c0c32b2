#include "policies/rate_window.hpp"

#include <algorithm>

namespace orch::policies {

bool rate_window::allow(const std::string& key, time_point now) {
  if (limit_ == 0) return true;
  auto& q = hits_[key];
  // Events are recorded in time order: the expired ones are a prefix.
  const auto live = std::find_if(q.begin(), q.end(), [&](time_point t) { return t + window_ > now; });
  q.erase(q.begin(), live);
  if (q.size() >= limit_) return false;
  q.push_back(now);
  return true;
}

std::uint32_t rate_window::count(const std::string& key, time_point now) const {
  auto it = hits_.find(key);
  if (it == hits_.end()) return 0;
  std::uint32_t n = 0;
  for (auto t : it->second)
    if (t + window_ > now) ++n;
  return n;
}

void rate_window::prune(time_point now) {
  std::erase_if(hits_, [&](const auto& kv) { return kv.second.empty() || kv.second.back() + window_ <= now; });
}

}  // namespace orch::policies
