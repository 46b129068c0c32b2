// daemon/json_codec: bodies parsed once, shapes validated, errors naming the field.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "daemon/json_codec.hpp"

using namespace orch::daemon;

namespace {
std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
template <class T>
const codec_error& err(const parsed<T>& p) {
  REQUIRE(std::holds_alternative<codec_error>(p));
  return std::get<codec_error>(p);
}
}  // namespace

TEST_CASE("json_codec: the original fixture parses into clusters and entities") {
  auto p = parse_snapshot(slurp(ORCH_SHARED_DIR "/fixtures/original/sample_snapshot.json"), "");
  REQUIRE(std::holds_alternative<orch::workers::snapshot>(p));
  auto& s = std::get<orch::workers::snapshot>(p);
  CHECK(s.game_id == "default");
  CHECK(s.timestamp == 1737874917);
  REQUIRE(s.clusters.size() == 2);
  CHECK(s.clusters[0].members.size() == 5);
  REQUIRE(s.entities.size() == 1);
  CHECK(s.entities[0].name == "Diamond");
  REQUIRE(s.entities[0].position.has_value());
  CHECK(s.entities[0].position->z == doctest::Approx(-12.006));
  CHECK(s.entities[0].health->state == "Running");
}

TEST_CASE("json_codec: gameId from the body, else the header, and seq must be a uint64") {
  const std::string base = R"({"timestamp":1,"events":[],"clusters":[],"humanContext":{}})";
  auto p = parse_snapshot(base, "from-header");
  CHECK(std::get<orch::workers::snapshot>(p).game_id == "from-header");
  p = parse_snapshot(R"({"gameId":"g","seq":7,"timestamp":1,"events":[],"clusters":[],"humanContext":{}})", "h");
  CHECK(std::get<orch::workers::snapshot>(p).game_id == "g");
  CHECK(std::get<orch::workers::snapshot>(p).seq == 7u);
  CHECK(err(parse_snapshot(R"({"seq":1.5,"timestamp":1,"events":[],"clusters":[],"humanContext":{}})", ""))
            .detail.rfind("seq:", 0) == 0);
}

TEST_CASE("json_codec: depth, encoding and number errors are invalid_json with an offset") {
  auto deep = err(parse_snapshot(std::string(65, '[') + std::string(65, ']'), ""));
  CHECK(deep.code == "invalid_json");
  CHECK(deep.detail.find("nesting") != std::string::npos);
  REQUIRE(deep.offset.has_value());
  CHECK(*deep.offset <= 65u);
  // 64 levels is still fine for the parser (the shape check then refuses the array).
  CHECK(err(parse_snapshot(std::string(64, '[') + std::string(64, ']'), "")).code == "invalid_snapshot");
  CHECK(err(parse_snapshot("{\"a\":\"\xc3\x28\"}", "")).code == "invalid_json");
  CHECK(err(parse_snapshot(R"({"timestamp":Infinity})", "")).code == "invalid_json");
  CHECK(err(parse_snapshot(R"({"timestamp":1e999})", "")).code == "invalid_json");
  CHECK(err(parse_snapshot(R"({"timestamp":1} x)", "")).code == "invalid_json");
}

TEST_CASE("json_codec: field paths in snapshot errors") {
  auto e = err(parse_snapshot(
      R"({"timestamp":1,"events":[],"clusters":[],"humanContext":{"Diamond":{"position":{"x":"a","y":1,"z":2}}}})",
      ""));
  CHECK(e.code == "invalid_snapshot");
  CHECK(e.detail == "humanContext.Diamond.position.x: expected a number");
  CHECK(err(parse_snapshot(
                R"({"timestamp":1,"events":[],"clusters":[],"humanContext":{"D":{"health":{"velocity":true}}}})", ""))
            .detail == "humanContext.D.health.velocity: expected a number");
  CHECK(err(parse_snapshot(R"({"timestamp":1,"events":[],"clusters":[{"members":["a",2]}],"humanContext":{}})", ""))
            .detail == "clusters[0].members[1]: expected a string");
  CHECK(err(parse_snapshot(R"({"timestamp":1,"events":[],"clusters":[]})", "")).detail == "humanContext: required");
}

TEST_CASE("json_codec: chat turns, v3 bodies and websocket frames") {
  auto t = parse_chat_turn(slurp(ORCH_SHARED_DIR "/fixtures/examples/chat_turn.json"));
  REQUIRE(std::holds_alternative<orch::workers::chat_turn>(t));
  CHECK(std::get<orch::workers::chat_turn>(t).target == "Kaiden");
  CHECK(std::get<orch::workers::chat_turn>(t).speaker_id == "2154372");
  auto sys = parse_chat_turn(R"({"gameId":"g","speaker":{"name":"Game"},"text":"[SYSTEM] Pete has entered"})");
  CHECK(std::get<orch::workers::chat_turn>(sys).system_notice);
  auto v3 = parse_chat_v3(slurp(ORCH_SHARED_DIR "/fixtures/examples/chat_v3.json"), "");
  REQUIRE(std::holds_alternative<orch::workers::chat_turn>(v3));
  auto& v = std::get<orch::workers::chat_turn>(v3);
  CHECK(v.from_v3);
  CHECK(v.v3_npc_id == "npc-pete");
  CHECK(v.speaker_name == "Diamond");
  CHECK(v.text == "Hi Pete, what do you sell?");
  CHECK(err(parse_chat_v3(R"({"npc_id":"npc-pete","participant_id":"1","messages":[]})", ""))
            .detail.rfind("messages", 0) == 0);
  auto f = parse_ws_frame(R"({"type":"chat","gameId":"g","speaker":{"name":"A"},"text":"hi"})");
  REQUIRE(std::holds_alternative<ws_frame>(f));
  CHECK(std::holds_alternative<orch::workers::chat_turn>(std::get<ws_frame>(f)));
  CHECK(err(parse_ws_frame(R"({"type":"dance"})")).detail.rfind("type:", 0) == 0);
}
