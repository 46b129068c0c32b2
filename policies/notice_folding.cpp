#include "policies/notice_folding.hpp"

#include <algorithm>

namespace orch::policies {

namespace {
bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}
}  // namespace

notice_folding::join_result notice_folding::on_joined(const std::string& npc, const std::vector<std::string>& newcomers,
                                                      time_point now) {
  join_result r;
  auto& st = npcs_[npc];
  const bool had_pending = !st.pending.empty();
  for (const auto& n : newcomers) {
    if (n == npc) continue;
    if (std::any_of(st.pending.begin(), st.pending.end(), [&](const auto& p) { return p.name == n; })) continue;
    auto told = st.told.find(n);
    if (told != st.told.end() && now - told->second < cooldown_) {
      ++r.cooling;
      continue;
    }
    const bool synced = contains(st.synced_members, n);
    st.pending.push_back({n, synced});
    if (synced && !st.eligible_since) st.eligible_since = now;
    ++r.added;
  }
  if (had_pending) r.folded = r.added;
  return r;
}

void notice_folding::on_left(const std::string& npc, const std::vector<std::string>& gone) {
  auto it = npcs_.find(npc);
  if (it == npcs_.end()) return;
  auto& st = it->second;
  std::erase_if(st.pending, [&](const auto& p) { return contains(gone, p.name); });
  if (std::none_of(st.pending.begin(), st.pending.end(), [](const auto& p) { return p.synced; }))
    st.eligible_since.reset();
}

void notice_folding::clear_pending(const std::string& npc) {
  auto it = npcs_.find(npc);
  if (it == npcs_.end()) return;
  it->second.pending.clear();
  it->second.eligible_since.reset();
}

bool notice_folding::on_synced(const std::string& npc, const std::vector<std::string>& members, time_point now) {
  auto& st = npcs_[npc];
  st.synced_members = members;
  bool any = false;
  for (auto& p : st.pending) {
    if (!p.synced && contains(members, p.name)) p.synced = true;
    any = any || p.synced;
  }
  if (any && !st.eligible_since) st.eligible_since = now;
  return any;
}

bool notice_folding::has_eligible(const std::string& npc) const { return eligible_since(npc).has_value(); }

std::optional<time_point> notice_folding::eligible_since(const std::string& npc) const {
  auto it = npcs_.find(npc);
  return it == npcs_.end() ? std::nullopt : it->second.eligible_since;
}

std::vector<std::string> notice_folding::take(const std::string& npc, time_point now) {
  std::vector<std::string> out;
  auto it = npcs_.find(npc);
  if (it == npcs_.end()) return out;
  auto& st = it->second;
  for (const auto& p : st.pending)
    if (p.synced) {
      out.push_back(p.name);
      st.told[p.name] = now;
    }
  std::erase_if(st.pending, [](const auto& p) { return p.synced; });
  st.eligible_since.reset();
  return out;
}

void notice_folding::prune(time_point now) {
  for (auto it = npcs_.begin(); it != npcs_.end();) {
    std::erase_if(it->second.told, [&](const auto& kv) { return now - kv.second >= cooldown_; });
    if (it->second.told.empty() && it->second.pending.empty() && it->second.synced_members.empty())
      it = npcs_.erase(it);
    else
      ++it;
  }
}

std::string join_names_prose(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += (i + 1 == names.size()) ? " and " : ", ";
    out += names[i];
  }
  return out;
}

std::string format_entry_notice(const std::vector<std::string>& newcomers, const std::vector<std::string>& in_range,
                                std::string_view location) {
  std::string out = "[SYSTEM] ";
  out += join_names_prose(newcomers);
  out += newcomers.size() == 1 ? " has entered your range." : " have entered your range.";
  if (!in_range.empty()) {
    out += " You are now in speaking range with ";
    out += join_names_prose(in_range);
    if (!location.empty()) {
      out += " at ";
      out += location;
    }
    out += '.';
  }
  out += " Please check context memory and group block for recent interactions.";
  return out;
}

}  // namespace orch::policies
