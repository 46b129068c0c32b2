#include "daemon/json_codec.hpp"

#include "daemon/snapshot_reader.hpp"

#include <cmath>

#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace orch::daemon {
namespace {

using rapidjson::Value;
constexpr unsigned parse_flags = rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag;

struct doc_or_error {
  rapidjson::Document doc;
  std::optional<codec_error> error;
};

// Forwards RapidJSON's SAX events to the Document while counting nesting, so that a body
// nested deeper than max_json_depth stops the (iterative) parse at once, in the same pass.
struct depth_limited_handler {
  rapidjson::Document& d;
  std::size_t depth = 0;
  bool too_deep = false;
  bool Null() { return d.Null(); }
  bool Bool(bool b) { return d.Bool(b); }
  bool Int(int i) { return d.Int(i); }
  bool Uint(unsigned u) { return d.Uint(u); }
  bool Int64(std::int64_t i) { return d.Int64(i); }
  bool Uint64(std::uint64_t u) { return d.Uint64(u); }
  bool Double(double x) { return d.Double(x); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) { return d.RawNumber(s, n, copy); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return d.String(s, n, copy); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return d.Key(s, n, copy); }
  bool enter() {
    too_deep = ++depth > max_json_depth;
    return !too_deep;
  }
  bool StartObject() { return enter() && d.StartObject(); }
  bool EndObject(rapidjson::SizeType n) {
    --depth;
    return d.EndObject(n);
  }
  bool StartArray() { return enter() && d.StartArray(); }
  bool EndArray(rapidjson::SizeType n) {
    --depth;
    return d.EndArray(n);
  }
};

void parse_document(std::string_view body, doc_or_error& out) {
  depth_limited_handler handler{out.doc};
  rapidjson::ParseResult result;
  auto generate = [&](rapidjson::Document&) {
    rapidjson::MemoryStream ms(body.data(), body.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
    rapidjson::Reader reader;
    result = reader.Parse<parse_flags>(is, handler);
    return !result.IsError();
  };
  out.doc.Populate(generate);
  if (handler.too_deep) {
    out.error = codec_error{400, "invalid_json", "nesting deeper than " + std::to_string(max_json_depth) + " levels",
                            result.Offset()};
  } else if (result.IsError()) {
    out.error = codec_error{400, "invalid_json", rapidjson::GetParseError_En(result.Code()), result.Offset()};
  }
}

// A field path built only when it is needed for an error message: validating a good body
// allocates no path strings.
struct lazy_path {
  const std::string& base;
  const char* leaf;
};
inline std::string str(const std::string& p) { return p; }
inline std::string str(const lazy_path& p) { return p.base + "." + p.leaf; }
inline lazy_path sub(const std::string& base, const char* leaf) { return {base, leaf}; }

// Validation helpers: each returns false after filling `err` with the path and what was
// expected. Paths read like `humanContext.Diamond.position.x`.
struct checker {
  std::string code;
  codec_error err;
  bool fail(const std::string& path, std::string_view what) {
    err = codec_error{400, code, path + ": " + std::string(what), std::nullopt};
    return false;
  }
  template <class P>
  bool fail(const P& path, std::string_view what) {
    return fail(str(path), what);
  }
  template <class P>
  bool number(const Value& v, const P& path, double& out) {
    if (!v.IsNumber()) return fail(path, "expected a number");
    out = v.GetDouble();
    if (!std::isfinite(out)) return fail(path, "expected a finite number");
    return true;
  }
  template <class P>
  bool integer(const Value& v, const P& path, std::int64_t& out) {
    if (v.IsInt64()) {
      out = v.GetInt64();
      return true;
    }
    if (v.IsDouble()) {
      double d = v.GetDouble();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
        out = static_cast<std::int64_t>(d);
        return true;
      }
    }
    return fail(path, v.IsNumber() ? "expected an integer in range" : "expected an integer");
  }
  template <class P>
  bool string(const Value& v, const P& path, std::string& out, std::size_t max_len = 4096) {
    if (!v.IsString()) return fail(path, "expected a string");
    if (v.GetStringLength() > max_len) return fail(path, "longer than " + std::to_string(max_len) + " bytes");
    out.assign(v.GetString(), v.GetStringLength());
    return true;
  }
  template <class P>
  bool boolean(const Value& v, const P& path, bool& out) {
    if (!v.IsBool()) return fail(path, "expected true or false");
    out = v.GetBool();
    return true;
  }
};

std::string member_path(const std::string& base, std::string_view key) {
  return base.empty() ? std::string(key) : base + "." + std::string(key);
}

const Value* find(const Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

bool read_vec3(checker& c, const Value& v, const std::string& path, workers::vec3& out) {
  if (!v.IsObject()) return c.fail(path, "expected an object {x,y,z}");
  const char* names[3] = {"x", "y", "z"};
  double* dst[3] = {&out.x, &out.y, &out.z};
  for (int i = 0; i < 3; ++i) {
    const Value* m = find(v, names[i]);
    if (!m) return c.fail(member_path(path, names[i]), "required");
    if (!c.number(*m, member_path(path, names[i]), *dst[i])) return false;
  }
  return true;
}

bool read_health(checker& c, const Value& v, const std::string& path, workers::entity_health& h) {
  if (!v.IsObject()) return c.fail(path, "expected an object");
  double d = 0;
  if (auto m = find(v, "current")) {
    if (!c.number(*m, sub(path, "current"), d)) return false;
    h.current = d;
  }
  if (auto m = find(v, "max")) {
    if (!c.number(*m, sub(path, "max"), d)) return false;
    if (d < 0) return c.fail(path + ".max", "expected a number >= 0");
    h.max = d;
  }
  if (auto m = find(v, "state")) {
    std::string s;
    if (!c.string(*m, sub(path, "state"), s, 256)) return false;
    h.state = std::move(s);
  }
  if (auto m = find(v, "isMoving")) {
    bool b = false;
    if (!c.boolean(*m, sub(path, "isMoving"), b)) return false;
    h.is_moving = b;
  }
  if (auto m = find(v, "velocity")) {
    if (!c.number(*m, sub(path, "velocity"), d)) return false;
    h.velocity = d;
  }
  return true;
}

bool read_name_list(checker& c, const Value& v, const std::string& path, std::vector<std::string>& out) {
  if (!v.IsArray()) return c.fail(path, "expected an array of names");
  out.reserve(v.Size());
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    const Value& e = v[i];
    if (!e.IsString() || e.GetStringLength() > 256) {  // the path is built only for the error
      std::string s;
      return c.string(e, path + "[" + std::to_string(i) + "]", s, 256);
    }
    out.emplace_back(e.GetString(), e.GetStringLength());
  }
  return true;
}

bool read_entity(checker& c, const Value& v, const std::string& path, workers::snapshot_entity& e) {
  if (!v.IsObject()) return c.fail(path, "expected an object");
  if (auto m = find(v, "position")) {
    workers::vec3 p;
    if (!read_vec3(c, *m, path + ".position", p)) return false;
    e.position = p;
  }
  if (auto m = find(v, "health")) {
    workers::entity_health h;
    if (!read_health(c, *m, path + ".health", h)) return false;
    e.health = std::move(h);
  }
  std::string s;
  if (auto m = find(v, "location")) {
    if (!c.string(*m, sub(path, "location"), s, 256)) return false;
    e.location = s;
  }
  if (auto m = find(v, "kind")) {
    if (!c.string(*m, sub(path, "kind"), s, 16)) return false;
    if (s != "npc" && s != "player") return c.fail(path + ".kind", "expected \"npc\" or \"player\"");
    e.kind = s;
  }
  if (auto m = find(v, "id")) {
    // Player userIds arrive as numbers from Lua as often as strings.
    if (m->IsString()) {
      if (!c.string(*m, sub(path, "id"), s, 256)) return false;
      e.id = s;
    } else if (m->IsInt64() || m->IsUint64()) {
      e.id = m->IsInt64() ? std::to_string(m->GetInt64()) : std::to_string(m->GetUint64());
    } else {
      return c.fail(path + ".id", "expected a string or an integer");
    }
  }
  if (auto m = find(v, "appearance")) {
    if (!c.string(*m, sub(path, "appearance"), s, 1024)) return false;
    e.appearance = s;
  }
  if (auto m = find(v, "lastSeen")) {
    double d = 0;
    if (!c.number(*m, sub(path, "lastSeen"), d)) return false;
    e.last_seen = d;
  }
  // Typed when present, not used by the daemon.
  if (auto m = find(v, "currentGroups"); m && !m->IsObject() && !m->IsNull())
    return c.fail(path + ".currentGroups", "expected an object");
  if (auto m = find(v, "currentGroups"); m && m->IsObject()) {
    if (auto mem = find(*m, "members")) {
      std::vector<std::string> ignored;
      if (!read_name_list(c, *mem, path + ".currentGroups.members", ignored)) return false;
    }
  }
  if (auto m = find(v, "recentInteractions"); m && !m->IsArray())
    return c.fail(path + ".recentInteractions", "expected an array");
  if (auto m = find(v, "relationships"); m && !m->IsArray() && !m->IsObject())
    return c.fail(path + ".relationships", "expected an array or an object");
  return true;
}

bool read_snapshot(checker& c, const Value& root, std::string_view header_game_id, workers::snapshot& s) {
  if (!root.IsObject()) return c.fail("(root)", "expected an object");
  // Shape first: every required field, with its type, before anything is looked up.
  const Value* ts = find(root, "timestamp");
  if (!ts) return c.fail("timestamp", "required");
  if (!c.integer(*ts, "timestamp", s.timestamp)) return false;
  const Value* events = find(root, "events");
  if (!events) return c.fail("events", "required");
  if (!events->IsArray()) return c.fail("events", "expected an array");
  s.event_count = events->Size();
  const Value* clusters = find(root, "clusters");
  if (!clusters) return c.fail("clusters", "required");
  if (!clusters->IsArray()) return c.fail("clusters", "expected an array");
  const Value* hc = find(root, "humanContext");
  if (!hc) return c.fail("humanContext", "required");
  if (!hc->IsObject()) return c.fail("humanContext", "expected an object");

  if (auto g = find(root, "gameId")) {
    if (!c.string(*g, "gameId", s.game_id, 256)) return false;
    if (s.game_id.empty()) return c.fail("gameId", "expected a non-empty string");
  } else if (!header_game_id.empty()) {
    if (header_game_id.size() > 256) return c.fail("X-Game-Id", "longer than 256 bytes");
    s.game_id = std::string(header_game_id);
  }
  if (auto q = find(root, "seq")) {
    if (!q->IsUint64()) return c.fail("seq", "expected a non-negative integer (uint64)");
    s.seq = q->GetUint64();
  }
  s.clusters.reserve(clusters->Size());
  for (rapidjson::SizeType i = 0; i < clusters->Size(); ++i) {
    const std::string path = "clusters[" + std::to_string(i) + "]";
    const Value& cl = (*clusters)[i];
    if (!cl.IsObject()) return c.fail(path, "expected an object");
    workers::game_cluster gc;
    const Value* members = find(cl, "members");
    if (!members) return c.fail(path + ".members", "required");
    if (!read_name_list(c, *members, path + ".members", gc.members)) return false;
    if (auto n = find(cl, "npcs"); n && !c.integer(*n, path + ".npcs", gc.npcs)) return false;
    if (auto n = find(cl, "players"); n && !c.integer(*n, path + ".players", gc.players)) return false;
    s.clusters.push_back(std::move(gc));
  }
  s.entities.reserve(hc->MemberCount());
  for (auto it = hc->MemberBegin(); it != hc->MemberEnd(); ++it) {
    workers::snapshot_entity e;
    e.name.assign(it->name.GetString(), it->name.GetStringLength());
    if (e.name.empty()) return c.fail("humanContext", "an entry has an empty name");
    if (e.name.size() > 256) return c.fail("humanContext." + e.name.substr(0, 32), "name longer than 256 bytes");
    if (!read_entity(c, it->value, "humanContext." + e.name, e)) return false;
    s.entities.push_back(std::move(e));
  }
  return true;
}

bool read_chat_turn(checker& c, const Value& root, workers::chat_turn& t) {
  if (!root.IsObject()) return c.fail("(root)", "expected an object");
  const Value* g = find(root, "gameId");
  if (!g) return c.fail("gameId", "required");
  if (!c.string(*g, "gameId", t.game_id, 256)) return false;
  if (t.game_id.empty()) return c.fail("gameId", "expected a non-empty string");
  const Value* sp = find(root, "speaker");
  if (!sp) return c.fail("speaker", "required");
  if (!sp->IsObject()) return c.fail("speaker", "expected an object {name, id?, kind?}");
  const Value* name = find(*sp, "name");
  if (!name) return c.fail("speaker.name", "required");
  if (!c.string(*name, "speaker.name", t.speaker_name, 256)) return false;
  if (t.speaker_name.empty()) return c.fail("speaker.name", "expected a non-empty string");
  if (auto id = find(*sp, "id")) {
    if (id->IsString()) {
      if (!c.string(*id, "speaker.id", t.speaker_id, 256)) return false;
    } else if (id->IsInt64()) {
      t.speaker_id = std::to_string(id->GetInt64());
    } else {
      return c.fail("speaker.id", "expected a string or an integer");
    }
  }
  if (auto k = find(*sp, "kind")) {
    if (!c.string(*k, "speaker.kind", t.speaker_kind, 16)) return false;
    if (t.speaker_kind != "npc" && t.speaker_kind != "player")
      return c.fail("speaker.kind", "expected \"npc\" or \"player\"");
  }
  const Value* text = find(root, "text");
  if (!text) return c.fail("text", "required");
  if (!c.string(*text, "text", t.text, 4000)) return false;
  if (t.text.empty()) return c.fail("text", "expected a non-empty string");
  if (auto tg = find(root, "target"); tg && !tg->IsNull()) {
    if (!c.string(*tg, "target", t.target, 256)) return false;
  }
  t.system_notice = t.text.rfind("[SYSTEM]", 0) == 0;
  return true;
}

bool read_chat_v3(checker& c, const Value& root, std::string_view header_game_id, workers::chat_turn& t) {
  if (!root.IsObject()) return c.fail("(root)", "expected an object");
  const Value* npc = find(root, "npc_id");
  if (!npc) return c.fail("npc_id", "required");
  if (!c.string(*npc, "npc_id", t.v3_npc_id, 256)) return false;
  if (t.v3_npc_id.empty()) return c.fail("npc_id", "expected a non-empty string");
  if (auto p = find(root, "participant_id")) {
    if (p->IsString()) {
      if (!c.string(*p, "participant_id", t.speaker_id, 256)) return false;
    } else if (p->IsInt64()) {
      t.speaker_id = std::to_string(p->GetInt64());
    } else {
      return c.fail("participant_id", "expected a string or an integer");
    }
  } else {
    return c.fail("participant_id", "required");
  }
  const Value* msgs = find(root, "messages");
  if (!msgs) return c.fail("messages", "required");
  if (!msgs->IsArray()) return c.fail("messages", "expected an array");
  if (msgs->Empty()) return c.fail("messages", "expected at least one message");
  std::string last_user_name;
  for (rapidjson::SizeType i = 0; i < msgs->Size(); ++i) {
    const std::string path = "messages[" + std::to_string(i) + "]";
    const Value& m = (*msgs)[i];
    if (!m.IsObject()) return c.fail(path, "expected an object {role, content, name}");
    const Value* role = find(m, "role");
    if (!role) return c.fail(path + ".role", "required");
    std::string r;
    if (!c.string(*role, path + ".role", r, 32)) return false;
    if (r != "user" && r != "system" && r != "assistant")
      return c.fail(path + ".role", "expected \"user\", \"system\" or \"assistant\"");
    const Value* content = find(m, "content");
    if (!content) return c.fail(path + ".content", "required");
    std::string text;
    if (!c.string(*content, path + ".content", text, 4000)) return false;
    std::string name;
    if (auto n = find(m, "name"); n && !n->IsNull()) {
      if (!c.string(*n, path + ".name", name, 256)) return false;
    }
    if (r == "user" || (r == "system" && t.text.empty())) {
      t.text = std::move(text);
      if (r == "user") last_user_name = name;
    }
  }
  if (t.text.empty()) return c.fail("messages", "no message with content");
  std::string participant_name, participant_type;
  if (auto ctx = find(root, "context")) {
    if (!ctx->IsObject()) return c.fail("context", "expected an object");
    if (auto n = find(*ctx, "participant_name"); n && !n->IsNull())
      if (!c.string(*n, "context.participant_name", participant_name, 256)) return false;
    if (auto n = find(*ctx, "participant_type"); n && !n->IsNull()) {
      if (!c.string(*n, "context.participant_type", participant_type, 16)) return false;
      if (participant_type != "npc" && participant_type != "player")
        return c.fail("context.participant_type", "expected \"npc\" or \"player\"");
    }
  }
  t.speaker_name = !last_user_name.empty() ? last_user_name : participant_name;
  if (t.speaker_name.empty()) return c.fail("context.participant_name", "required when messages carry no name");
  t.speaker_kind = participant_type;
  t.game_id = std::string(header_game_id);
  t.target = t.v3_npc_id;
  t.from_v3 = true;
  t.system_notice = t.text.rfind("[SYSTEM]", 0) == 0;
  return true;
}

}  // namespace

parsed<workers::snapshot> parse_snapshot(std::string_view body, std::string_view header_game_id,
                                         std::size_t readable_after) {
  {
    workers::snapshot s;
    if (read_snapshot_fast(body, header_game_id, s, readable_after)) return s;
  }
  return parse_snapshot_reference(body, header_game_id);
}

parsed<workers::snapshot> parse_snapshot_reference(std::string_view body, std::string_view header_game_id) {
  doc_or_error d;
  parse_document(body, d);
  if (d.error) return *d.error;
  checker c{"invalid_snapshot", {}};
  workers::snapshot s;
  if (!read_snapshot(c, d.doc, header_game_id, s)) return c.err;
  return s;
}

parsed<workers::chat_turn> parse_chat_turn(std::string_view body) {
  doc_or_error d;
  parse_document(body, d);
  if (d.error) return *d.error;
  checker c{"invalid_turn", {}};
  workers::chat_turn t;
  if (!read_chat_turn(c, d.doc, t)) return c.err;
  return t;
}

parsed<workers::chat_turn> parse_chat_v3(std::string_view body, std::string_view header_game_id) {
  doc_or_error d;
  parse_document(body, d);
  if (d.error) return *d.error;
  checker c{"invalid_turn", {}};
  workers::chat_turn t;
  if (!read_chat_v3(c, d.doc, header_game_id, t)) return c.err;
  return t;
}

parsed<ws_frame> parse_ws_frame(std::string_view body, std::string_view header_game_id) {
  doc_or_error d;
  parse_document(body, d);
  if (d.error) return *d.error;
  if (!d.doc.IsObject()) return codec_error{400, "invalid_frame", "(root): expected an object", std::nullopt};
  const Value* type = find(d.doc, "type");
  if (!type || !type->IsString())
    return codec_error{400, "invalid_frame", "type: expected \"snapshot\" or \"chat\"", std::nullopt};
  std::string_view ty(type->GetString(), type->GetStringLength());
  if (ty == "snapshot") {
    checker c{"invalid_snapshot", {}};
    workers::snapshot s;
    if (!read_snapshot(c, d.doc, header_game_id, s)) return c.err;
    return ws_frame{std::move(s)};
  }
  if (ty == "chat") {
    checker c{"invalid_turn", {}};
    workers::chat_turn t;
    if (!read_chat_turn(c, d.doc, t)) return c.err;
    return ws_frame{std::move(t)};
  }
  return codec_error{400, "invalid_frame", "type: expected \"snapshot\" or \"chat\"", std::nullopt};
}

std::string error_body(const codec_error& e) {
  std::string out = "{\"error\":" + json_quote(e.code) + ",\"detail\":" + json_quote(e.detail);
  if (e.offset) out += ",\"offset\":" + std::to_string(*e.offset);
  out += "}";
  return out;
}

std::string error_body(std::string_view code, std::string_view detail) {
  return "{\"error\":" + json_quote(code) + ",\"detail\":" + json_quote(detail) + "}";
}

}  // namespace orch::daemon
