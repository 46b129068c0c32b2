// queues/events: every typed event renders to JSON that parses back to the same struct, with
// strings of any content; the hub publishes typed events once, with their typed fields.
#include <doctest/doctest.h>

#include <random>

#include <rapidjson/document.h>

#include "queues/event_hub.hpp"
#include "queues/events.hpp"

using namespace orch::queues;
using rapidjson::Value;

namespace {

std::string text(std::mt19937& rng) {
  static const char* parts[] = {"Pete", "\"", "\\", "\n", "é", "日本", "\x01", " ", "a/b", "{}", ""};
  std::string s;
  for (int n = std::uniform_int_distribution<int>(0, 5)(rng); n > 0; --n)
    s += parts[std::uniform_int_distribution<int>(0, 10)(rng)];
  return s;
}
std::vector<std::string> names(std::mt19937& rng) {
  std::vector<std::string> v;
  for (int n = std::uniform_int_distribution<int>(0, 4)(rng); n > 0; --n) v.push_back(text(rng));
  return v;
}
std::optional<std::string> maybe(std::mt19937& rng) {
  if (std::uniform_int_distribution<int>(0, 2)(rng) == 0) return std::nullopt;
  return text(rng);
}

std::string str(const Value& v) { return std::string(v.GetString(), v.GetStringLength()); }
std::vector<std::string> strs(const Value& v) {
  std::vector<std::string> out;
  for (const auto& e : v.GetArray()) out.push_back(str(e));
  return out;
}
std::optional<std::string> opt(const Value& v) {
  if (v.IsNull()) return std::nullopt;
  return str(v);
}

// Parses the rendered JSON back into the struct of its `type`.
event_body parse_back(const std::string& json, std::uint64_t& seq) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseFullPrecisionFlag>(json.data(), json.size());  // doubles exactly
  REQUIRE_FALSE(d.HasParseError());
  REQUIRE(d.IsObject());
  seq = d["seq"].GetUint64();
  const std::string type = str(d["type"]);
  if (type == "cluster_update") {
    cluster_update e{str(d["clusterId"]), strs(d["members"]), {}, strs(d["joined"]), strs(d["left"])};
    for (auto it = d["positions"].MemberBegin(); it != d["positions"].MemberEnd(); ++it)
      e.positions.push_back(
          {str(it->name), {it->value["x"].GetDouble(), it->value["y"].GetDouble(), it->value["z"].GetDouble()}});
    return e;
  }
  if (type == "npc_message") {
    npc_message e{str(d["npc"]),       str(d["text"]),      str(d["conversationId"]),
                  str(d["clusterId"]), strs(d["audience"]), opt(d["inReplyTo"]),
                  std::nullopt};
    if (d.HasMember("action")) e.action = str(d["action"]);
    return e;
  }
  if (type == "npc_typing")
    return npc_typing{str(d["npc"]), str(d["clusterId"]), strs(d["audience"]), opt(d["inReplyTo"])};
  if (type == "conversation_state")
    return conversation_state{str(d["conversationId"]), str(d["clusterId"]), strs(d["participants"]), opt(d["floor"])};
  REQUIRE(type == "turn_dropped");
  return turn_dropped{str(d["turnId"]), str(d["reason"])};
}

bool same(const event_body& a, const event_body& b) {
  if (a.index() != b.index()) return false;
  if (auto* x = std::get_if<cluster_update>(&a)) {
    auto& y = std::get<cluster_update>(b);
    if (x->positions.size() != y.positions.size()) return false;
    for (std::size_t i = 0; i < x->positions.size(); ++i) {
      const auto& [n1, p1] = x->positions[i];
      const auto& [n2, p2] = y.positions[i];
      if (n1 != n2 || p1.x != p2.x || p1.y != p2.y || p1.z != p2.z) return false;
    }
    return x->cluster_id == y.cluster_id && x->members == y.members && x->joined == y.joined && x->left == y.left;
  }
  if (auto* x = std::get_if<npc_message>(&a)) {
    auto& y = std::get<npc_message>(b);
    return x->npc == y.npc && x->text == y.text && x->conversation_id == y.conversation_id &&
           x->cluster_id == y.cluster_id && x->audience == y.audience && x->in_reply_to == y.in_reply_to &&
           x->action == y.action;
  }
  if (auto* x = std::get_if<npc_typing>(&a)) {
    auto& y = std::get<npc_typing>(b);
    return x->npc == y.npc && x->cluster_id == y.cluster_id && x->audience == y.audience &&
           x->in_reply_to == y.in_reply_to;
  }
  if (auto* x = std::get_if<conversation_state>(&a)) {
    auto& y = std::get<conversation_state>(b);
    return x->conversation_id == y.conversation_id && x->cluster_id == y.cluster_id &&
           x->participants == y.participants && x->floor == y.floor;
  }
  auto& x = std::get<turn_dropped>(a);
  auto& y = std::get<turn_dropped>(b);
  return x.turn_id == y.turn_id && x.reason == y.reason;
}

event_body random_event(std::mt19937& rng) {
  std::uniform_real_distribution<double> coord(-1e4, 1e4);
  switch (std::uniform_int_distribution<int>(0, 4)(rng)) {
    case 0: {
      cluster_update e{text(rng), names(rng), {}, names(rng), names(rng)};
      for (const auto& m : e.members) e.positions.push_back({m, {coord(rng), coord(rng), coord(rng)}});
      return e;
    }
    case 1:
      return npc_message{text(rng), text(rng), text(rng), text(rng), names(rng), maybe(rng), maybe(rng)};
    case 2:
      return npc_typing{text(rng), text(rng), names(rng), maybe(rng)};
    case 3:
      return conversation_state{text(rng), text(rng), names(rng), maybe(rng)};
    default:
      return turn_dropped{text(rng), text(rng)};
  }
}

}  // namespace

TEST_CASE("events: the renderer's output parses back to the same struct, for every type") {
  std::mt19937 rng(11);
  int kinds[5] = {};
  for (int i = 0; i < 2000; ++i) {
    const event_body e = random_event(rng);
    ++kinds[e.index()];
    std::string json;
    render_event(static_cast<std::uint64_t>(i) + 1, e, json);
    std::uint64_t seq = 0;
    INFO(json);
    CHECK(same(parse_back(json, seq), e));
    CHECK(seq == static_cast<std::uint64_t>(i) + 1);
  }
  for (int k : kinds) CHECK(k > 300);
}

TEST_CASE("events: the fixed field order of each type (what clients already read)") {
  std::string json;
  render_event(3, turn_dropped{"t1", "shed"}, json);
  CHECK(json == R"({"seq":3,"type":"turn_dropped","turnId":"t1","reason":"shed"})");
  json.clear();
  render_event(4, npc_typing{"Pete", "c1", {"Ann"}, std::nullopt}, json);
  CHECK(json == R"({"seq":4,"type":"npc_typing","npc":"Pete","clusterId":"c1","audience":["Ann"],"inReplyTo":null})");
}

TEST_CASE("event_hub: a typed event is rendered once, shared by subscribers, with its typed fields") {
  orch::metrics::registry reg;
  event_hub hub(100, 1 << 20, 10, reg);
  std::vector<event_ptr> got_a, got_b;
  auto sa = hub.subscribe("g", [&](const event_ptr& e) { got_a.push_back(e); });
  auto sb = hub.subscribe("g", [&](const event_ptr& e) { got_b.push_back(e); });
  hub.publish("g",
              event_body{npc_message{"Pete", "Hi", "conv-c1", "c1", {"Ann"}, std::string("turn-9"), std::nullopt}});
  hub.publish("g", event_body{turn_dropped{"turn-10", "shed"}});
  REQUIRE(got_a.size() == 2);
  REQUIRE(got_b.size() == 2);
  CHECK(got_a[0].get() == got_b[0].get());  // one event object, one rendering
  CHECK(std::string(got_a[0]->type) == "npc_message");
  CHECK(got_a[0]->fields().npc == "Pete");
  CHECK(got_a[0]->fields().in_reply_to == "turn-9");
  CHECK(got_a[0]->fields().text == "Hi");
  CHECK(got_a[0]->fields().conversation_id == "conv-c1");
  CHECK(got_a[0]->fields().cluster_id == "c1");
  CHECK(got_a[0]->json.rfind(R"({"seq":1,"type":"npc_message","npc":"Pete")", 0) == 0);
  CHECK(std::string(got_a[1]->type) == "turn_dropped");
  CHECK(got_a[1]->fields().turn_id == "turn-10");
  CHECK(got_a[1]->fields().reason == "shed");
  CHECK(got_a[1]->fields().npc.empty());
  // An event type without typed fields carries none (no allocation for them).
  hub.publish("g", event_body{cluster_update{"c1", {"Ann", "Pete"}, {}, {"Ann"}, {}}});
  REQUIRE(got_a.size() == 3);
  CHECK(std::string(got_a[2]->type) == "cluster_update");
  CHECK(got_a[2]->typed == nullptr);
  CHECK(got_a[2]->fields().npc.empty());
  CHECK(hub.read("g", 0, 10).events.size() == 3);
}

TEST_CASE("event_hub: an event with typed fields counts them against the byte cap") {
  orch::metrics::registry reg;
  event_hub hub(100, 1 << 20, 10, reg);
  hub.publish("g", event_body{npc_message{
                       "Pete", "Hello there", "conv-c1", "c1", {"Ann"}, std::string("turn-9"), std::nullopt}});
  hub.publish("g", event_body{cluster_update{"c1", {"Ann", "Pete"}, {}, {"Ann"}, {}}});
  auto r = hub.read("g", 0, 10);
  REQUIRE(r.events.size() == 2);
  const auto& m = *r.events[0];
  CHECK(event_hub::bytes_of(m) == event_hub::per_event_bytes + m.json.size() + sizeof(orch::queues::event_fields) +
                                      std::string("Peteturn-9Hello thereconv-c1c1").size());
  const auto& c = *r.events[1];
  CHECK(event_hub::bytes_of(c) == event_hub::per_event_bytes + c.json.size());
  CHECK(reg.value("npcorch_events_replay_bytes", {}) ==
        static_cast<double>(event_hub::bytes_of(m) + event_hub::bytes_of(c)));
}
