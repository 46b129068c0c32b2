#include "workers/letta_conversation_codec.hpp"

#include <algorithm>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/percent_coding.hpp"
#include "workers/letta_codec.hpp"

namespace orch::workers {

namespace rj = rapidjson;
namespace {

constexpr unsigned parse_flags = rj::kParseValidateEncodingFlag | rj::kParseIterativeFlag;

using common::percent_encode;

void put(rj::Writer<rj::StringBuffer>& w, std::string_view s) {
  w.String(s.data(), static_cast<rj::SizeType>(s.size()));
}

std::string str_of(const rj::Value& v) { return {v.GetString(), v.GetStringLength()}; }

const rj::Value* member(const rj::Value& o, const char* k) {
  if (!o.IsObject()) return nullptr;
  auto it = o.FindMember(k);
  return it == o.MemberEnd() ? nullptr : &it->value;
}

std::optional<letta_conversation> conversation_of(const rj::Value& v) {
  const auto* id = member(v, "id");
  const auto* agent = member(v, "agent_id");
  if (!id || !id->IsString() || !agent || !agent->IsString()) return std::nullopt;
  letta_conversation c;
  c.id = str_of(*id);
  c.agent_id = str_of(*agent);
  if (const auto* s = member(v, "summary"); s && s->IsString()) c.summary = str_of(*s);
  if (const auto* b = member(v, "isolated_block_ids"); b && b->IsArray())
    for (const auto& x : b->GetArray())
      if (x.IsString()) c.isolated_block_ids.push_back(str_of(x));
  return c;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string text_of(const rj::Value& c) {
  if (c.IsString()) return str_of(c);
  std::string out;
  if (c.IsArray())
    for (const auto& part : c.GetArray())
      if (const auto* t = member(part, "text"); t && t->IsString()) out += str_of(*t);
  return out;
}

}  // namespace

std::string_view conversation_summary_prefix() { return "npc-orchestrator game "; }

std::string conversation_summary(std::string_view game_id) {
  return std::string(conversation_summary_prefix()) + std::string(game_id);
}

const std::vector<std::string>& isolated_labels() {
  static const std::vector<std::string> labels{"group_members", "status"};
  return labels;
}

std::string conversations_list_target(std::string_view agent_id, std::string_view summary) {
  return "/v1/conversations/?agent_id=" + percent_encode(agent_id) + "&summary_search=" + percent_encode(summary);
}
std::string conversations_page_target(std::string_view agent_id, std::string_view summary, unsigned limit,
                                      std::string_view after) {
  std::string t = conversations_list_target(agent_id, summary) + "&order=asc&limit=" + std::to_string(limit);
  if (!after.empty()) t += "&after=" + percent_encode(after);
  return t;
}
std::string conversations_create_target(std::string_view agent_id) {
  return "/v1/conversations/?agent_id=" + percent_encode(agent_id);
}
std::string conversation_messages_target(std::string_view conversation_id) {
  return "/v1/conversations/" + percent_encode(conversation_id) + "/messages";
}
std::string conversation_recent_target(std::string_view conversation_id, unsigned limit) {
  return conversation_messages_target(conversation_id) + "?order=desc&limit=" + std::to_string(limit);
}
std::string agent_recent_target(std::string_view agent_id, unsigned limit) {
  return messages_target(agent_id) + "?order=desc&limit=" + std::to_string(limit);
}
std::string block_id_target(std::string_view block_id) { return "/v1/blocks/" + percent_encode(block_id); }

std::string build_create_conversation_body(std::string_view summary, const std::vector<std::string>& labels) {
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  w.StartObject();
  w.Key("summary");
  put(w, summary);
  w.Key("isolated_block_labels");
  w.StartArray();
  for (const auto& l : labels) put(w, l);
  w.EndArray();
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

std::string build_conversation_messages_body(const std::vector<letta_message>& messages) {
  std::string body = build_messages_body(messages);  // {"messages":[...],"use_assistant_message":true}
  body.pop_back();                                   // the closing brace
  body += ",\"streaming\":false}";
  return body;
}

std::optional<letta_conversation> parse_conversation(std::string_view body) {
  rj::Document d;
  d.Parse<parse_flags>(body.data(), body.size());
  if (d.HasParseError()) return std::nullopt;
  return conversation_of(d);
}

std::optional<create_conversation_request> parse_create_conversation_body(std::string_view body) {
  rj::Document d;
  d.Parse<parse_flags>(body.data(), body.size());
  if (d.HasParseError() || !d.IsObject()) return std::nullopt;
  create_conversation_request out;
  if (const auto* s = member(d, "summary"); s && s->IsString()) out.summary = str_of(*s);
  if (const auto* l = member(d, "isolated_block_labels"); l && l->IsArray())
    for (const auto& x : l->GetArray())
      if (x.IsString()) out.isolated_block_labels.push_back(str_of(x));
  return out;
}

std::string query_param(std::string_view target, std::string_view key) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) != key) continue;
    std::string_view v = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const int hi = i + 2 < v.size() ? hex_digit(v[i + 1]) : -1;
      const int lo = i + 2 < v.size() ? hex_digit(v[i + 2]) : -1;
      if (v[i] == '%' && hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
      } else {
        out += v[i] == '+' ? ' ' : v[i];
      }
    }
    return out;
  }
  return {};
}

std::optional<std::vector<letta_conversation>> parse_conversation_list(std::string_view body) {
  rj::Document d;
  d.Parse<parse_flags>(body.data(), body.size());
  if (d.HasParseError() || !d.IsArray()) return std::nullopt;
  std::vector<letta_conversation> out;
  for (const auto& v : d.GetArray())
    if (auto c = conversation_of(v)) out.push_back(std::move(*c));
  return out;
}

std::string write_conversation(const letta_conversation& c) {
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  w.StartObject();
  w.Key("id");
  put(w, c.id);
  w.Key("agent_id");
  put(w, c.agent_id);
  w.Key("summary");
  put(w, c.summary);
  w.Key("in_context_message_ids");
  w.StartArray();
  w.EndArray();
  w.Key("isolated_block_ids");
  w.StartArray();
  for (const auto& b : c.isolated_block_ids) put(w, b);
  w.EndArray();
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

std::optional<std::string> parse_block_label(std::string_view body) {
  rj::Document d;
  d.Parse<parse_flags>(body.data(), body.size());
  if (d.HasParseError()) return std::nullopt;
  const auto* l = member(d, "label");
  if (!l || !l->IsString()) return std::nullopt;
  return str_of(*l);
}

std::optional<letta_reply> reply_after_otid(std::string_view body, std::string_view otid, bool newest_first) {
  rj::Document d;
  d.Parse<parse_flags>(body.data(), body.size());
  if (d.HasParseError() || !d.IsArray() || otid.empty()) return std::nullopt;
  const auto& a = d.GetArray();
  const rj::SizeType n = a.Size();
  auto at = [&](rj::SizeType i) -> const rj::Value& { return newest_first ? a[n - 1 - i] : a[i]; };  // oldest first
  bool found = false;
  bool answered = false;
  letta_reply out;
  for (rj::SizeType i = 0; i < n; ++i) {
    const auto& m = at(i);
    const auto* t = member(m, "message_type");
    if (!t || !t->IsString()) continue;
    const std::string type = str_of(*t);
    if (!found) {
      const auto* o = member(m, "otid");
      found = type == "user_message" && o && o->IsString() && str_of(*o) == otid;
      continue;
    }
    if (type == "user_message") break;  // the next turn
    if (type == "assistant_message") {
      if (const auto* c = member(m, "content")) {
        if (!out.text.empty()) out.text += "\n";
        out.text += text_of(*c);
      }
      answered = true;
    }
  }
  if (!found || !answered) return std::nullopt;
  return out;
}

std::string write_conversation_page(std::vector<letta_conversation> matching, std::string_view target) {
  std::sort(matching.begin(), matching.end(), [](const letta_conversation& a, const letta_conversation& b) {
    return a.id.size() != b.id.size() ? a.id.size() < b.id.size() : a.id < b.id;
  });
  if (query_param(target, "order") != "asc") std::reverse(matching.begin(), matching.end());
  std::size_t limit = 50;
  const std::string l = query_param(target, "limit");
  if (!l.empty() && l.size() < 7 && std::all_of(l.begin(), l.end(), [](char c) { return c >= '0' && c <= '9'; }))
    limit = std::stoul(l);
  std::size_t from = 0;
  if (const std::string after = query_param(target, "after"); !after.empty()) {
    from = matching.size();
    for (std::size_t i = 0; i < matching.size(); ++i)
      if (matching[i].id == after) from = i + 1;
  }
  std::string body = "[";
  for (std::size_t i = from; i < matching.size() && i - from < limit; ++i) {
    if (body.size() > 1) body += ",";
    body += write_conversation(matching[i]);
  }
  return body + "]";
}

}  // namespace orch::workers
