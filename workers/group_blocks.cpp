#include "workers/group_blocks.hpp"

#include <algorithm>
#include <ctime>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/hash64.hpp"
#include "policies/cluster_ids.hpp"
#include "policies/group_update.hpp"

namespace orch::workers {

namespace {

using rapidjson::Document;
using rapidjson::SizeType;
using rapidjson::StringRef;
using rapidjson::Value;

constexpr const char* owned_keys[] = {"members", "summary", "updates", "last_updated"};

bool is_owned(std::string_view k) {
  for (auto o : owned_keys)
    if (k == o) return true;
  return false;
}

Value str(std::string_view s, Document::AllocatorType& a) {
  return Value(s.data(), static_cast<SizeType>(s.size()), a);
}

std::string serialize(const Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return {sb.GetString(), sb.GetSize()};
}

std::vector<std::string> names_of(const group_block& b);

std::string summary_of(const group_block& b) {
  const auto names = names_of(b);
  return "Current members: " + (names.empty() ? std::string("none") : policies::join_names(names));
}

Document build(const group_block& b) {
  Document d;
  d.SetObject();
  auto& a = d.GetAllocator();
  Value members(rapidjson::kObjectType);
  for (const auto& m : b.members) {
    Value e(rapidjson::kObjectType);
    e.AddMember("name", str(m.name, a), a);
    e.AddMember("appearance", str(m.appearance, a), a);
    e.AddMember("last_seen", str(m.last_seen, a), a);
    e.AddMember("notes", Value("", a), a);
    members.AddMember(str(m.name, a), e, a);
  }
  d.AddMember("members", members, a);
  d.AddMember("summary", str(summary_of(b), a), a);
  Value updates(rapidjson::kArrayType);
  for (std::size_t i = 0; i < b.updates.size() && i < group_block_max_updates; ++i)
    updates.PushBack(str(b.updates[i], a), a);
  d.AddMember("updates", updates, a);
  d.AddMember("last_updated", str(b.last_updated, a), a);
  return d;
}

std::size_t serialized_size(const Value& v) { return serialize(v).size(); }

// Size of a string as a JSON string token, quotes included.
std::size_t json_string_size(std::string_view s) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.String(s.data(), static_cast<SizeType>(s.size()));
  return sb.GetSize();
}

// "Current members: A, B, … and N more" within `budget` bytes as a JSON string token: the first
// names in order (the caller's order: most relevant first), then how many were left out.
std::string trimmed_summary(const std::vector<std::string>& names, std::size_t budget) {
  const std::string prefix = "Current members: ";
  const std::string ellipsis = "\xe2\x80\xa6";  // U+2026, written raw (UTF-8) by the Writer
  const std::size_t tail_reserve = std::string(", ").size() + ellipsis.size() + std::string(" and  more").size() +
                                   std::to_string(names.size()).size();
  std::size_t used = 2 + prefix.size() + tail_reserve;  // 2: the quotes
  std::size_t k = 0;
  for (; k < names.size(); ++k) {
    const std::size_t add = json_string_size(names[k]) - 2 + (k > 0 ? 2 : 0);
    if (used + add > budget) break;
    used += add;
  }
  std::string out = prefix;
  for (std::size_t i = 0; i < k; ++i) {
    if (i > 0) out += ", ";
    out += names[i];
  }
  if (k < names.size()) {
    if (k > 0) out += ", ";
    out += ellipsis + " and " + std::to_string(names.size() - k) + " more";
  }
  return out;
}

// Serializes d under `limit` in linear time: the size is computed once and every removal
// subtracts exactly what it takes out (JSON sizes add up), so nothing is re-serialized per
// step. Trimming order: oldest updates first, then appearances (from the last member), then
// member entries (from the last), then the summary ("A, B, … and N more", first names kept). Only
// the NPC's own keys can keep the text over the limit: they are kept whole.
std::string fit(Document& d, const std::vector<std::string>& names, std::size_t limit) {
  auto& a = d.GetAllocator();
  std::size_t size = serialized_size(d);
  if (size < limit) return serialize(d);
  auto& updates = d["updates"];
  while (size >= limit && !updates.Empty()) {
    const auto& u = updates[updates.Size() - 1];
    size -= json_string_size({u.GetString(), u.GetStringLength()}) + (updates.Size() > 1 ? 1 : 0);
    updates.PopBack();
  }
  auto& members = d["members"];
  for (auto it = members.MemberEnd(); size >= limit && it != members.MemberBegin();) {
    --it;
    if (!it->value.IsObject()) continue;
    auto ap = it->value.FindMember("appearance");
    if (ap == it->value.MemberEnd() || !ap->value.IsString() || ap->value.GetStringLength() == 0) continue;
    size -= json_string_size({ap->value.GetString(), ap->value.GetStringLength()}) - 2;
    ap->value.SetString("", a);
  }
  while (size >= limit && members.MemberCount() > 0) {
    auto last = members.MemberEnd() - 1;
    size -= json_string_size({last->name.GetString(), last->name.GetStringLength()}) + 1 +
            serialized_size(last->value) + (members.MemberCount() > 1 ? 1 : 0);
    members.RemoveMember(last);
  }
  if (size >= limit) {
    auto& summary = d["summary"];
    const std::size_t current = json_string_size({summary.GetString(), summary.GetStringLength()});
    const std::size_t excess = size - limit + 1;
    const std::size_t budget = current > excess ? current - excess : 0;
    const auto text = trimmed_summary(names, budget);
    summary.SetString(text.data(), static_cast<SizeType>(text.size()), a);
  }
  return serialize(d);
}

std::vector<std::string> names_of(const group_block& b) {
  std::vector<std::string> names;
  names.reserve(b.members.size());
  for (const auto& m : b.members) names.push_back(m.name);
  return names;
}

// Hash of the daemon-owned part of a block: members without notes, summary, updates,
// last_updated, in document order.
std::uint64_t owned_hash(const Value& obj) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  for (auto key : owned_keys) {
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd()) continue;
    w.Key(key);
    if (std::string_view(key) == "members" && it->value.IsObject()) {
      w.StartObject();
      for (const auto& m : it->value.GetObject()) {
        w.Key(m.name.GetString(), m.name.GetStringLength());
        if (!m.value.IsObject()) {
          m.value.Accept(w);
          continue;
        }
        w.StartObject();
        for (const auto& f : m.value.GetObject()) {
          if (std::string_view(f.name.GetString(), f.name.GetStringLength()) == "notes") continue;
          w.Key(f.name.GetString(), f.name.GetStringLength());
          f.value.Accept(w);
        }
        w.EndObject();
      }
      w.EndObject();
    } else {
      it->value.Accept(w);
    }
  }
  w.EndObject();
  return text_hash({sb.GetString(), sb.GetSize()});
}

}  // namespace

std::uint64_t text_hash(std::string_view s) { return policies::fnv1a(s); }

std::string iso8601(std::int64_t epoch_s) {
  const auto t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return {buf, n};
}

std::vector<std::string> membership_update_lines(const std::vector<std::string>& joined,
                                                 const std::vector<std::string>& left) {
  std::vector<std::string> out;
  if (!joined.empty()) out.push_back(policies::join_names(joined) + " joined the group");
  if (!left.empty()) out.push_back(policies::join_names(left) + " left the group");
  return out;
}

void push_updates(std::vector<std::string>& updates, const std::vector<std::string>& lines) {
  for (const auto& l : lines) updates.insert(updates.begin(), l);
  if (updates.size() > group_block_max_updates) updates.resize(group_block_max_updates);
}

update_lines update_lines::pushed(const std::vector<std::string>& lines) const {
  // Newest first: `lines` reversed, then the lines kept from before.
  const std::size_t fresh = std::min(lines.size(), group_block_max_updates);
  const std::size_t kept = std::min<std::size_t>(count_, group_block_max_updates - fresh);
  update_lines out;
  std::size_t bytes = kept == 0 ? 0 : ends_[kept - 1];
  for (std::size_t i = 0; i < fresh; ++i) bytes += lines[lines.size() - 1 - i].size();
  out.text_.reserve(bytes);
  auto add = [&out](std::string_view line) {
    out.text_.append(line);
    out.ends_[out.count_++] = static_cast<std::uint32_t>(out.text_.size());
  };
  for (std::size_t i = 0; i < fresh; ++i) add(lines[lines.size() - 1 - i]);
  for (std::size_t i = 0; i < kept; ++i) add((*this)[i]);
  return out;
}

std::vector<std::string> update_lines::to_vector() const {
  std::vector<std::string> out;
  out.reserve(count_);
  for (std::size_t i = 0; i < count_; ++i) out.emplace_back((*this)[i]);
  return out;
}

// Word-at-a-time (common/hash64.hpp): compared in-process only, never persisted. Each
// piece's length is mixed in; the counts keep members and updates apart.
namespace {
template <class Lines>
std::uint64_t hash_updates(const Lines& updates) {
  std::uint64_t h = common::hash64("group_members.updates");
  h = common::hash64({}, h ^ updates.size());
  for (std::size_t i = 0; i < updates.size(); ++i) h = common::hash64(updates[i], h);
  return h;
}
}  // namespace

std::uint64_t update_lines::hash() const { return hash_updates(*this); }

std::uint64_t group_updates_hash(const std::vector<std::string>& updates) { return hash_updates(updates); }

std::uint64_t group_block_hash(const std::vector<block_member>& members, std::uint64_t updates_hash) {
  std::uint64_t h = common::hash64("group_members");
  h = common::hash64({}, h ^ members.size());
  for (const auto& m : members) {
    h = common::hash64(m.name, h);
    h = common::hash64(m.appearance, h);
  }
  return common::hash64({}, h ^ updates_hash);
}

std::uint64_t group_block_hash(const group_block& b) {
  return group_block_hash(b.members, group_updates_hash(b.updates));
}

std::string render_group_members(const group_block& b, std::size_t limit) {
  auto d = build(b);
  return fit(d, names_of(b), limit);
}

merge_outcome merge_group_members(const group_block& b, std::string_view current, std::uint64_t last_text_hash,
                                  std::uint64_t last_owned_hash, std::size_t limit) {
  merge_outcome out;
  auto d = build(b);
  auto& a = d.GetAllocator();
  out.npc_edited = !current.empty() && text_hash(current) != last_text_hash;
  if (!current.empty()) {
    Document c;
    c.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(current.data(), current.size());
    if (c.HasParseError() || !c.IsObject()) {
      if (out.npc_edited) {
        d.AddMember("npc_notes", str(current, a), a);
        out.conflict = true;
      }
    } else {
      if (out.npc_edited && last_owned_hash != 0 && owned_hash(c) != last_owned_hash) out.conflict = true;
      // Keys the daemon does not own come over whole (former-member notes included).
      for (auto& m : c.GetObject()) {
        std::string_view k(m.name.GetString(), m.name.GetStringLength());
        if (!is_owned(k)) d.AddMember(Value(m.name, a), Value(m.value, a), a);
      }
      // Each member's notes: onto the member when still here, else into notes_on_former_members.
      auto cm = c.FindMember("members");
      if (cm != c.MemberEnd() && cm->value.IsObject()) {
        auto& dm = d["members"];
        for (auto& m : cm->value.GetObject()) {
          if (!m.value.IsObject()) continue;
          auto n = m.value.FindMember("notes");
          if (n == m.value.MemberEnd() || !n->value.IsString() || n->value.GetStringLength() == 0) continue;
          auto here = dm.FindMember(m.name);
          if (here != dm.MemberEnd()) {
            here->value["notes"].SetString(n->value.GetString(), n->value.GetStringLength(), a);
            continue;
          }
          auto former = d.FindMember("notes_on_former_members");
          if (former == d.MemberEnd()) {
            d.AddMember("notes_on_former_members", Value(rapidjson::kObjectType), a);
            former = d.FindMember("notes_on_former_members");
          }
          if (!former->value.IsObject()) continue;  // the NPC reshaped it: its own value is kept
          auto old = former->value.FindMember(m.name);
          if (old != former->value.MemberEnd())
            old->value.SetString(n->value.GetString(), n->value.GetStringLength(), a);
          else
            former->value.AddMember(Value(m.name, a), Value(n->value, a), a);
        }
      }
    }
  }
  out.text = fit(d, names_of(b), limit);
  out.text_hash = text_hash(out.text);
  out.owned_hash = owned_hash(d);
  return out;
}

merge_outcome merge_status(std::string_view fresh, std::string_view current, std::uint64_t last_text_hash) {
  merge_outcome out;
  out.text = std::string(fresh);
  out.npc_edited = !current.empty() && text_hash(current) != last_text_hash;
  std::size_t status_lines = 0;
  std::size_t pos = 0;
  while (pos <= current.size() && !current.empty()) {
    auto nl = current.find('\n', pos);
    auto line = current.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (line.starts_with("health:")) {
      ++status_lines;
    } else if (!line.empty()) {
      out.text += '\n';
      out.text += line;
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  out.conflict = out.npc_edited && status_lines != 1;
  out.text_hash = text_hash(out.text);
  out.owned_hash = text_hash(fresh);
  return out;
}

}  // namespace orch::workers
