// Integration: memory blocks written by the real daemon — into the simulated backend (read
// back through /letta/v1/debug/blocks) and, with letta.backend: http, into fake-letta over
// real HTTP, where an NPC's own edit must survive the next group change.
#include <doctest/doctest.h>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <thread>

#include "tests/eventually.hpp"
#include "tests/integration/http_client.hpp"

using namespace orch::testing;

namespace {

const std::string pete_agent = "agent-a5df389a-d4d2-4064-81c8-e0d5092419fc";

std::string scene(const std::string& game, int seq, bool goldie_near) {
  return R"({"gameId":")" + game + R"(","seq":)" + std::to_string(seq) +
         R"(,"timestamp":1,"events":[],"clusters":[],"humanContext":{
    "Pete":{"kind":"npc","id":"npc-pete","position":{"x":10,"y":3,"z":-12},"health":{"current":100,"max":100}},
    "Kaiden":{"kind":"npc","id":"npc-kaiden","position":{"x":14,"y":3,"z":-12}},
    "Goldie":{"kind":"npc","id":"npc-goldie","position":{"x":)" +
         std::string(goldie_near ? "11" : "90") + R"(,"y":3,"z":-9}},
    "Diamond":{"kind":"player","id":"2154372","appearance":"a tall avatar in a blue hoodie","position":{"x":8,"y":3,"z":-12}}}})";
}

// Reads until `ok(value)` or 20 s pass; returns the last value read.
template <class Read, class Ok>
std::string poll(Read read, Ok ok) {
  std::string v;
  eventually([&] { return ok(v = read()); }, std::chrono::seconds(20));
  return v;
}

std::string block_value(const std::string& json_body) {
  rapidjson::Document d;
  d.Parse(json_body.c_str());
  return d.IsObject() && d.HasMember("value") && d["value"].IsString() ? d["value"].GetString() : "";
}

}  // namespace

TEST_CASE("blocks: the simulated backend holds group_members and status with display names") {
  daemon_under_test d({"letta.simulated.latency_ms=5"});
  REQUIRE(d.port() > 0);
  http_conn c(d.port());
  REQUIRE(c.post("/letta/v1/snapshot/game", scene("blk", 1, false)).status == 202);
  auto read = [&](const std::string& label) {
    return [&, label] {
      return block_value(c.get("/letta/v1/debug/blocks?agentId=" + pete_agent + "&label=" + label).body);
    };
  };
  auto group = poll(read("group_members"), [](const std::string& v) { return v.find("Diamond") != std::string::npos; });
  rapidjson::Document g;
  g.Parse(group.c_str());
  REQUIRE(g.IsObject());
  CHECK(g["members"].HasMember("Diamond"));
  CHECK(g["members"].HasMember("Kaiden"));
  CHECK(!g["members"].HasMember("Pete"));             // every *other* member
  CHECK(group.find("2154372") == std::string::npos);  // display names, never user ids
  CHECK(std::string(g["members"]["Diamond"]["appearance"].GetString()) == "a tall avatar in a blue hoodie");
  CHECK(std::string(g["summary"].GetString()).rfind("Current members: ", 0) == 0);
  auto status = poll(read("status"), [](const std::string& v) { return !v.empty(); });
  CHECK(status.rfind("health: 100 | location: ", 0) == 0);
  CHECK(status.find(" | current_action: Idle") != std::string::npos);
  // Goldie joins: the block follows in the next snapshot's sync, with the update line.
  REQUIRE(c.post("/letta/v1/snapshot/game", scene("blk", 2, true)).status == 202);
  group = poll(read("group_members"), [](const std::string& v) { return v.find("Goldie") != std::string::npos; });
  CHECK(group.find("Goldie joined the group") != std::string::npos);
  CHECK(d.metric("npcorch_letta_block_writes_total") >= 4);
  CHECK(d.stop() == 0);
}

TEST_CASE("blocks and replies over real HTTP to fake-letta and an NPC's own edit survives a group change") {
  child_process fake({ORCH_FAKE_LETTA_PATH, "--listen", "127.0.0.1:0", "--latency-ms", "10", "--world",
                      ORCH_SOURCE_DIR "/etc/world.yaml"});
  const int fport = fake.wait_for_port();
  REQUIRE(fport > 0);
  daemon_under_test d(
      {"letta.backend=http", "letta.conversations=agent", "letta.base_url=http://127.0.0.1:" + std::to_string(fport)});
  REQUIRE(d.port() > 0);
  http_conn c(d.port());
  http_conn f(fport);
  auto ready =
      poll([&] { return std::to_string(c.get("/readyz").status); }, [](const std::string& s) { return s == "200"; });
  CHECK(ready == "200");
  REQUIRE(c.post("/letta/v1/snapshot/game", scene("http", 1, false)).status == 202);
  auto read_group = [&] {
    return block_value(f.get("/v1/agents/" + pete_agent + "/core-memory/blocks/group_members").body);
  };
  auto group = poll(read_group, [](const std::string& v) { return v.find("Diamond") != std::string::npos; });
  REQUIRE(group.find("Kaiden") != std::string::npos);
  // The NPC edits its own block: a note on Diamond and a key of its own.
  rapidjson::Document g;
  g.Parse(group.c_str());
  REQUIRE(g.IsObject());
  auto& a = g.GetAllocator();
  g["members"]["Diamond"]["notes"].SetString("owes me three coins", a);
  g.AddMember("npc_mood", "cheerful", a);
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  g.Accept(w);
  rapidjson::Document edit;
  edit.SetObject();
  edit.AddMember("agent", rapidjson::Value(pete_agent.c_str(), edit.GetAllocator()), edit.GetAllocator());
  edit.AddMember("label", "group_members", edit.GetAllocator());
  edit.AddMember("value", rapidjson::Value(sb.GetString(), edit.GetAllocator()), edit.GetAllocator());
  rapidjson::StringBuffer eb;
  rapidjson::Writer<rapidjson::StringBuffer> ew(eb);
  edit.Accept(ew);
  REQUIRE(f.post("/_fake/edit_block", eb.GetString()).status / 100 == 2);
  // An agent edits its blocks only while it runs a step (DESIGN 5.4): the edit above stands
  // for one made during this turn's message call, which makes the next sync read first.
  // A chat turn is answered through fake-letta's /messages.
  auto r =
      c.post("/letta/v1/chat/turn",
             R"({"gameId":"http","speaker":{"name":"Diamond","kind":"player"},"text":"Pete, hello","target":"Pete"})");
  REQUIRE(r.status == 202);
  auto events = poll(
      [&] { return c.get("/letta/v1/events?gameId=http&since=0").body; },
      [](const std::string& b) { return b.find("\"type\":\"npc_message\",\"npc\":\"Pete\"") != std::string::npos; });
  CHECK(events.find("\"type\":\"npc_message\",\"npc\":\"Pete\"") != std::string::npos);
  CHECK(d.metric("npcorch_letta_calls_total{endpoint=\"messages\",status=\"200\"}") >= 1);
  // Goldie joins: the daemon rewrites the block and merges, keeping the NPC's note and key.
  REQUIRE(c.post("/letta/v1/snapshot/game", scene("http", 2, true)).status == 202);
  group = poll(read_group, [](const std::string& v) { return v.find("Goldie") != std::string::npos; });
  CHECK(group.find("Goldie") != std::string::npos);
  CHECK(group.find("owes me three coins") != std::string::npos);
  CHECK(group.find("\"npc_mood\":\"cheerful\"") != std::string::npos);
  CHECK(d.metric("npcorch_memory_merges_total") >= 1);
  CHECK(d.stop() == 0);
}
