#include "workers/letta_codec.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/percent_coding.hpp"

namespace orch::workers {

namespace rj = rapidjson;
constexpr unsigned parse_flags = rj::kParseValidateEncodingFlag | rj::kParseIterativeFlag;

using common::percent_encode;

std::string messages_target(std::string_view agent_id) {
  return "/v1/agents/" + percent_encode(agent_id) + "/messages";
}
std::string block_target(std::string_view agent_id, std::string_view label) {
  return "/v1/agents/" + percent_encode(agent_id) + "/core-memory/blocks/" + percent_encode(label);
}
std::string agent_target(std::string_view agent_id) { return "/v1/agents/" + percent_encode(agent_id); }

static void put(rj::Writer<rj::StringBuffer>& w, std::string_view s) {
  w.String(s.data(), static_cast<rj::SizeType>(s.size()));
}

std::string build_messages_body(const std::vector<letta_message>& messages) {
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  w.StartObject();
  w.Key("messages");
  w.StartArray();
  for (const auto& m : messages) {
    w.StartObject();
    w.Key("role");
    put(w, m.role.empty() ? std::string_view("user") : std::string_view(m.role));
    w.Key("content");
    put(w, m.content);
    if (!m.name.empty()) {
      w.Key("name");
      put(w, m.name);
    }
    if (!m.otid.empty()) {
      w.Key("otid");
      put(w, m.otid);
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("use_assistant_message");
  w.Bool(true);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

std::string build_block_update_body(std::string_view value) {
  rj::StringBuffer sb;
  rj::Writer<rj::StringBuffer> w(sb);
  w.StartObject();
  w.Key("value");
  put(w, value);
  w.EndObject();
  return {sb.GetString(), sb.GetSize()};
}

static std::string str_of(const rj::Value& v) { return {v.GetString(), v.GetStringLength()}; }

static const rj::Value* member(const rj::Value& o, const char* k) {
  if (!o.IsObject()) return nullptr;
  auto it = o.FindMember(k);
  return it == o.MemberEnd() ? nullptr : &it->value;
}

// Content is a string or an array of parts; the text parts are joined.
static std::optional<std::string> content_text(const rj::Value& c) {
  if (c.IsString()) return str_of(c);
  if (!c.IsArray()) return std::nullopt;
  std::string out;
  for (const auto& part : c.GetArray()) {
    const auto* t = member(part, "text");
    if (t && t->IsString()) out += str_of(*t);
  }
  return out;
}

std::optional<std::vector<letta_message>> parse_messages_body(std::string_view body) {
  rj::Document d;
  d.Parse<parse_flags>(body.data(), body.size());
  if (d.HasParseError()) return std::nullopt;
  const auto* ms = member(d, "messages");
  if (!ms || !ms->IsArray() || ms->Empty()) return std::nullopt;
  std::vector<letta_message> out;
  for (const auto& m : ms->GetArray()) {
    letta_message lm;
    const auto* role = member(m, "role");
    const auto* content = member(m, "content");
    if (!role || !role->IsString() || !content) return std::nullopt;
    auto text = content_text(*content);
    if (!text) return std::nullopt;
    lm.role = str_of(*role);
    lm.content = std::move(*text);
    if (const auto* n = member(m, "name"); n && n->IsString()) lm.name = str_of(*n);
    if (const auto* o = member(m, "otid"); o && o->IsString()) lm.otid = str_of(*o);
    out.push_back(std::move(lm));
  }
  return out;
}

std::optional<std::string> parse_block_update_body(std::string_view body) {
  rj::Document d;
  d.Parse<parse_flags>(body.data(), body.size());
  if (d.HasParseError()) return std::nullopt;
  const auto* v = member(d, "value");
  if (!v || !v->IsString()) return std::nullopt;
  return str_of(*v);
}

bool parse_letta_response(std::string_view body, letta_reply& out) {
  rj::Document d;
  d.Parse<parse_flags>(body.data(), body.size());
  if (d.HasParseError()) return false;
  const auto* ms = member(d, "messages");
  if (!ms || !ms->IsArray()) return false;
  out = {};
  for (const auto& m : ms->GetArray()) {
    const auto* type = member(m, "message_type");
    if (!type || !type->IsString()) continue;
    const std::string t = str_of(*type);
    if (t == "assistant_message") {
      const auto* c = member(m, "content");
      if (!c) continue;
      if (auto text = content_text(*c)) {
        if (!out.text.empty()) out.text += '\n';
        out.text += *text;
      }
    } else if (t == "tool_call_message") {
      // Letta sends `tool_call` (one) and, in newer versions, `tool_calls` (a list).
      auto take = [&](const rj::Value& tc) {
        letta_tool_call call;
        if (const auto* n = member(tc, "name"); n && n->IsString()) call.name = str_of(*n);
        if (const auto* a = member(tc, "arguments"); a && a->IsString()) call.arguments = str_of(*a);
        if (!call.name.empty()) out.tool_calls.push_back(std::move(call));
      };
      if (const auto* tc = member(m, "tool_call"); tc && tc->IsObject()) {
        take(*tc);
      } else if (const auto* tcs = member(m, "tool_calls"); tcs && tcs->IsArray()) {
        for (const auto& x : tcs->GetArray()) take(x);
      }
    }
  }
  if (const auto* u = member(d, "usage"); u && u->IsObject()) {
    if (const auto* p = member(*u, "prompt_tokens"); p && p->IsUint64()) out.prompt_tokens = p->GetUint64();
    if (const auto* c = member(*u, "completion_tokens"); c && c->IsUint64()) out.completion_tokens = c->GetUint64();
  }
  return true;
}

std::optional<std::string> parse_block_value(std::string_view body) { return parse_block_update_body(body); }

}  // namespace orch::workers
