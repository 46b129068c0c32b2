#include "policies/echo_filter.hpp"

#include <functional>

namespace orch::policies {

bool echo_filter::is_echo(const std::string& speaker, std::string_view text, time_point now) {
  const std::size_t h = std::hash<std::string_view>{}(text);
  auto [it, inserted] = last_.try_emplace(speaker);
  if (!inserted && it->second.hash == h && it->second.length == text.size() && now - it->second.at < window_)
    return true;
  it->second = entry{h, text.size(), now};
  return false;
}

void echo_filter::prune(time_point now) {
  std::erase_if(last_, [&](const auto& kv) { return now - kv.second.at >= window_; });
}

}  // namespace orch::policies
