#include "policies/turn_taking.hpp"

#include <algorithm>
#include <numeric>

namespace orch::policies {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '\'' ||
         (static_cast<unsigned char>(c) >= 0x80);
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

// Position of `word` as a whole word in `text`, or npos.
std::size_t find_word(std::string_view text, std::string_view word) {
  if (word.empty() || word.size() > text.size()) return std::string_view::npos;
  for (std::size_t i = 0; i + word.size() <= text.size(); ++i) {
    if (!iequal(text.substr(i, word.size()), word)) continue;
    const bool left_ok = i == 0 || !word_char(text[i - 1]);
    const std::size_t end = i + word.size();
    // A possessive "Pete's" still addresses Pete.
    const bool right_ok = end == text.size() || !word_char(text[end]) ||
                          (text[end] == '\'' && (end + 1 == text.size() || lower(text[end + 1]) == 's'));
    if (left_ok && right_ok) return i;
  }
  return std::string_view::npos;
}

}  // namespace

bool contains_word(std::string_view text, std::string_view word) {
  return find_word(text, word) != std::string_view::npos;
}

std::optional<std::size_t> find_addressed(const std::vector<turn_candidate>& candidates, std::string_view v3_npc_id,
                                          std::string_view target, std::string_view text) {
  if (!v3_npc_id.empty())
    for (std::size_t i = 0; i < candidates.size(); ++i)
      if (candidates[i].id == v3_npc_id || iequal(candidates[i].name, v3_npc_id)) return i;
  if (!target.empty())
    for (std::size_t i = 0; i < candidates.size(); ++i)
      if (iequal(candidates[i].name, target) || (!candidates[i].id.empty() && candidates[i].id == target)) return i;
  std::optional<std::size_t> best;
  std::size_t best_pos = std::string_view::npos;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const std::size_t pos = find_word(text, candidates[i].name);
    // Earliest mention wins; on a tie (one name inside another's span) the longer name.
    if (pos != std::string_view::npos &&
        (!best || pos < best_pos || (pos == best_pos && candidates[i].name.size() > candidates[*best].name.size()))) {
      best = i;
      best_pos = pos;
    }
  }
  return best;
}

responder_selection pick_responders(const std::vector<turn_candidate>& candidates, std::optional<std::size_t> addressed,
                                    std::uint32_t max_responders, time_point now) {
  responder_selection sel;
  const std::size_t cap = std::max<std::uint32_t>(max_responders, 1);
  if (addressed && *addressed < candidates.size()) {
    const auto& a = candidates[*addressed];
    const bool cooling = a.busy || a.ready_at > now;
    sel.responders.push_back({*addressed, true, a.ready_at});
    sel.addressed_waits = cooling;
  }
  std::vector<std::size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
    const auto& a = candidates[x];
    const auto& b = candidates[y];
    if (a.last_spoke != b.last_spoke) {
      if (!a.last_spoke) return true;
      if (!b.last_spoke) return false;
      return *a.last_spoke < *b.last_spoke;
    }
    if (a.distance != b.distance) return a.distance < b.distance;
    return a.name < b.name;
  });
  for (std::size_t i : order) {
    if (addressed && i == *addressed) continue;
    if (sel.responders.size() >= cap) break;
    const auto& c = candidates[i];
    if (c.busy || c.ready_at > now) {
      ++sel.cooldown_holds;
      continue;
    }
    sel.responders.push_back({i, false, c.ready_at});
  }
  return sel;
}

}  // namespace orch::policies
