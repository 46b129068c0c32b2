#include "queues/events.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace orch::queues {

namespace {

// RapidJSON's Writer over its own StringBuffer, reused per thread: it reserves room once per
// token and writes characters without a capacity check each (a std::string sink paid an
// out-of-line push_back per character), and the event's text is then copied out at its exact
// size.
using writer = rapidjson::Writer<rapidjson::StringBuffer>;

// A buffer grown past this by an unusually large event is given back after it.
constexpr std::size_t kept_render_bytes = 64 * 1024;

void str(writer& w, const std::string& s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

void key_str(writer& w, const char* k, const std::string& v) {
  w.Key(k);
  str(w, v);
}

void key_opt(writer& w, const char* k, const std::optional<std::string>& v) {
  w.Key(k);
  if (v)
    str(w, *v);
  else
    w.Null();
}

void key_names(writer& w, const char* k, const std::vector<std::string>& names) {
  w.Key(k);
  w.StartArray();
  for (const auto& n : names) str(w, n);
  w.EndArray();
}

struct render_fields {
  writer& w;
  void operator()(const cluster_update& e) const {
    key_str(w, "clusterId", e.cluster_id);
    key_names(w, "members", e.members);
    w.Key("positions");
    w.StartObject();
    for (const auto& [name, p] : e.positions) {
      str(w, name);
      w.StartObject();
      w.Key("x");
      w.Double(p.x);
      w.Key("y");
      w.Double(p.y);
      w.Key("z");
      w.Double(p.z);
      w.EndObject();
    }
    w.EndObject();
    key_names(w, "joined", e.joined);
    key_names(w, "left", e.left);
  }
  void operator()(const npc_message& e) const {
    key_str(w, "npc", e.npc);
    key_str(w, "text", e.text);
    key_str(w, "conversationId", e.conversation_id);
    key_str(w, "clusterId", e.cluster_id);
    key_names(w, "audience", e.audience);
    key_opt(w, "inReplyTo", e.in_reply_to);
    if (e.action) key_str(w, "action", *e.action);
  }
  void operator()(const npc_typing& e) const {
    key_str(w, "npc", e.npc);
    key_str(w, "clusterId", e.cluster_id);
    key_names(w, "audience", e.audience);
    key_opt(w, "inReplyTo", e.in_reply_to);
  }
  void operator()(const conversation_state& e) const {
    key_str(w, "conversationId", e.conversation_id);
    key_str(w, "clusterId", e.cluster_id);
    key_names(w, "participants", e.participants);
    key_opt(w, "floor", e.floor);
  }
  void operator()(const turn_dropped& e) const {
    key_str(w, "turnId", e.turn_id);
    key_str(w, "reason", e.reason);
  }
};

struct type_name {
  const char* operator()(const cluster_update&) const { return "cluster_update"; }
  const char* operator()(const npc_message&) const { return "npc_message"; }
  const char* operator()(const npc_typing&) const { return "npc_typing"; }
  const char* operator()(const conversation_state&) const { return "conversation_state"; }
  const char* operator()(const turn_dropped&) const { return "turn_dropped"; }
};

}  // namespace

const char* event_type(const event_body& b) { return std::visit(type_name{}, b); }

void render_event(std::uint64_t seq, const event_body& b, std::string& out) {
  // The writer is kept too: a new one allocates its own allocator and nesting stack (two
  // allocations per event); Reset keeps both and forgets the last document.
  thread_local rapidjson::StringBuffer buf;
  thread_local writer w(buf);
  buf.Clear();
  w.Reset(buf);
  w.StartObject();
  w.Key("seq");
  w.Uint64(seq);
  w.Key("type");
  w.String(event_type(b));
  std::visit(render_fields{w}, b);
  w.EndObject();
  out.append(buf.GetString(), buf.GetSize());
  if (buf.GetSize() > kept_render_bytes) buf.ShrinkToFit();
}

}  // namespace orch::queues
