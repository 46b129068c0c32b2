// Integration: per-game Letta conversations (DESIGN 5.4) through the real daemon over HTTP to
// fake-letta. Three game servers share Pete's agent: one conversation per (agent, game), each
// with its own group_members; Pete answers in all three, never two requests at once in one
// conversation; a restarted daemon finds the conversations again. And a message that times
// out in Letta but lands is read back from the thread, not run twice.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include "tests/eventually.hpp"
#include "tests/integration/http_client.hpp"

using namespace orch::testing;

namespace {

const std::string pete_agent = "agent-a5df389a-d4d2-4064-81c8-e0d5092419fc";

std::string scene(const std::string& game, const std::string& player) {
  return R"({"gameId":")" + game + R"(","seq":1,"timestamp":1,"events":[],"clusters":[],"humanContext":{
    "Pete":{"kind":"npc","id":"npc-pete","position":{"x":10,"y":3,"z":-12},"health":{"current":100,"max":100}},
    ")" + player +
         R"(":{"kind":"player","id":"p-)" + player +
         R"(","appearance":"a traveller","position":{"x":8,"y":3,"z":-12}}}})";
}

std::string turn(const std::string& game, const std::string& player) {
  return R"({"gameId":")" + game + R"(","speaker":{"name":")" + player +
         R"(","kind":"player"},"text":"Pete, hello","target":"Pete"})";
}

// Polls `read` (through eventually()) until `ok(value)` or 15 s pass; returns the last value read.
template <class Read, class Ok>
std::string poll(Read read, Ok ok) {
  std::string v;
  eventually([&] { return ok(v = read()); }, std::chrono::seconds(15));
  return v;
}

// fake-letta's view of Pete's conversations.
struct conv_view {
  std::string summary, group_members;
  int duplicate_otids = 0, steps = 0;
};
std::vector<conv_view> conversations(http_conn& f) {
  rapidjson::Document d;
  const auto body = f.get("/_fake/conversations?agent_id=" + pete_agent).body;
  d.Parse(body.c_str());
  std::vector<conv_view> out;
  if (!d.IsArray()) return out;
  for (const auto& c : d.GetArray()) {
    conv_view v;
    v.summary = c["summary"].GetString();
    if (c["blocks"].HasMember("group_members")) v.group_members = c["blocks"]["group_members"].GetString();
    v.duplicate_otids = c["duplicate_otids"].GetInt();
    v.steps = c["steps"].GetInt();
    out.push_back(v);
  }
  return out;
}

const conv_view* of_game(const std::vector<conv_view>& cs, const std::string& game) {
  for (const auto& c : cs)
    if (c.summary == "npc-orchestrator game " + game) return &c;
  return nullptr;
}

double stat(http_conn& f, const char* key) {
  rapidjson::Document d;
  const auto body = f.get("/_fake/stats").body;
  d.Parse(body.c_str());
  return d.IsObject() && d.HasMember(key) && d[key].IsNumber() ? d[key].GetDouble() : -1;
}

// fake-letta's count of requests to one endpoint (0 when none was made).
double requests_to(http_conn& f, const char* endpoint) {
  rapidjson::Document d;
  const auto body = f.get("/_fake/stats").body;
  d.Parse(body.c_str());
  if (!d.IsObject() || !d.HasMember("requests") || !d["requests"].IsObject()) return -1;
  const auto& r = d["requests"];
  return r.HasMember(endpoint) && r[endpoint].IsNumber() ? r[endpoint].GetDouble() : 0;
}

bool pete_answered(http_conn& c, const std::string& game) {
  return c.get("/letta/v1/events?gameId=" + game + "&since=0").body.find("\"type\":\"npc_message\",\"npc\":\"Pete\"") !=
         std::string::npos;
}

const std::vector<std::pair<std::string, std::string>> games{{"srv-a", "Alice"}, {"srv-b", "Bruno"}, {"srv-c", "Chen"}};

}  // namespace

TEST_CASE(
    "per-game conversations over fake-letta: three servers share Pete, one conversation each, found after a restart") {
  child_process fake({ORCH_FAKE_LETTA_PATH, "--listen", "127.0.0.1:0", "--latency-ms", "50", "--world",
                      ORCH_SOURCE_DIR "/etc/world.yaml"});
  const int fport = fake.wait_for_port();
  REQUIRE(fport > 0);
  http_conn f(fport);
  const std::vector<std::string> sets{"letta.backend=http", "letta.base_url=http://127.0.0.1:" + std::to_string(fport),
                                      "conversation.npc_cooldown_s=0"};
  {
    daemon_under_test d(sets);
    REQUIRE(d.port() > 0);
    http_conn c(d.port());
    CHECK(poll([&] { return std::to_string(c.get("/readyz").status); },
               [](const std::string& s) { return s == "200"; }) == "200");
    for (const auto& [game, player] : games)
      REQUIRE(c.post("/letta/v1/snapshot/game", scene(game, player)).status == 202);
    // Each game's isolated group_members lists that game's player, and only that one.
    poll([&] { return std::to_string(conversations(f).size()); }, [](const std::string& n) { return n == "3"; });
    for (const auto& [game, player] : games) {
      auto members = poll(
          [&, g = game] {
            auto cs = conversations(f);
            const auto* cv = of_game(cs, g);
            return cv ? cv->group_members : std::string();
          },
          [p = player](const std::string& v) { return v.find(p) != std::string::npos; });
      CHECK(members.find(player) != std::string::npos);
      for (const auto& [other_game, other] : games)
        if (other != player) CHECK(members.find(other) == std::string::npos);
    }
    // A new pair's blocks are copies of Pete's own: read once (per label) from the agent, not
    // once per conversation. Each group_members read is answered from that copy (a status read
    // may go to Letta if a notice's message starts in the conversation before it).
    CHECK(d.metric("npcorch_letta_block_reads_known_total") >= 3);
    CHECK(requests_to(f, "block_get") <= 2);
    CHECK(requests_to(f, "block_id_get") <= 3);
    CHECK(requests_to(f, "block_id_update") >= 3);
    // Pete answers in all three servers.
    for (const auto& [game, player] : games) REQUIRE(c.post("/letta/v1/chat/turn", turn(game, player)).status == 202);
    for (const auto& [game, player] : games) {
      poll([&, g = game] { return std::string(pete_answered(c, g) ? "yes" : "no"); },
           [](const std::string& v) { return v == "yes"; });
      CHECK_MESSAGE(pete_answered(c, game), game);
    }
    CHECK(conversations(f).size() == 3);
    CHECK(stat(f, "max_concurrent_per_conversation") == 1);
    CHECK(stat(f, "conversation_violations") == 0);
    CHECK(d.metric("npcorch_letta_requests_total{kind=\"conversation\",status=\"200\"}") >= 3);
    MESSAGE("conversations busy at once (fake-letta): " << stat(f, "max_conversations_busy"));
    CHECK(d.stop() == 0);
  }
  const double total_before = stat(f, "conversations");
  {
    // Restarted (same fake-letta): the daemon finds its conversations and makes none.
    daemon_under_test d(sets);
    REQUIRE(d.port() > 0);
    http_conn c(d.port());
    CHECK(poll([&] { return std::to_string(c.get("/readyz").status); },
               [](const std::string& s) { return s == "200"; }) == "200");
    REQUIRE(c.post("/letta/v1/snapshot/game", scene("srv-b", "Bruno")).status == 202);
    REQUIRE(c.post("/letta/v1/chat/turn", turn("srv-b", "Bruno")).status == 202);
    poll([&] { return std::string(pete_answered(c, "srv-b") ? "yes" : "no"); },
         [](const std::string& v) { return v == "yes"; });
    CHECK(pete_answered(c, "srv-b"));
    CHECK(d.metric("npcorch_letta_conversations_total{how=\"found\"}") >= 1);
    CHECK(d.metric("npcorch_letta_conversations_total{how=\"created\"}") < 1);  // absent (-1) or 0
    CHECK(d.stop() == 0);
  }
  CHECK(stat(f, "conversations") == total_before);
  CHECK(conversations(f).size() == 3);
}

TEST_CASE("a message that times out in Letta and then lands is not run twice") {
  child_process fake({ORCH_FAKE_LETTA_PATH, "--listen", "127.0.0.1:0", "--latency-ms", "5", "--world",
                      ORCH_SOURCE_DIR "/etc/world.yaml"});
  const int fport = fake.wait_for_port();
  REQUIRE(fport > 0);
  http_conn f(fport);
  daemon_under_test d({"letta.backend=http", "letta.base_url=http://127.0.0.1:" + std::to_string(fport),
                       "letta.timeout_ms=400", "letta.retry.base_ms=10", "letta.retry.max_ms=50",
                       "conversation.npc_cooldown_s=0"});
  REQUIRE(d.port() > 0);
  http_conn c(d.port());
  CHECK(poll([&] { return std::to_string(c.get("/readyz").status); },
             [](const std::string& s) { return s == "200"; }) == "200");
  REQUIRE(c.post("/letta/v1/snapshot/game", scene("late", "Alice")).status == 202);
  // The conversation exists and its blocks are written before the fault is armed.
  poll(
      [&] {
        auto cs = conversations(f);
        const auto* cv = of_game(cs, "late");
        return cv ? cv->group_members : std::string();
      },
      [](const std::string& v) { return v.find("Alice") != std::string::npos; });
  REQUIRE(f.post("/_fake/faults", R"({"mode":"land_late","count":1,"agent":")" + pete_agent + R"(","delay_ms":1500})")
              .status == 200);
  REQUIRE(c.post("/letta/v1/chat/turn", turn("late", "Alice")).status == 202);
  poll([&] { return std::string(pete_answered(c, "late") ? "yes" : "no"); },
       [](const std::string& v) { return v == "yes"; });
  CHECK(pete_answered(c, "late"));
  CHECK(d.metric("npcorch_letta_resends_avoided_total") >= 1);
  auto cs = conversations(f);
  const auto* cv = of_game(cs, "late");
  REQUIRE(cv != nullptr);
  CHECK(cv->duplicate_otids == 0);
  if (cv->duplicate_otids != 0) {
    const auto m = d.metrics();
    std::string lines;
    for (std::size_t at = 0; (at = m.find("npcorch_letta_", at)) != std::string::npos;) {
      auto end = m.find('\n', at);
      lines += m.substr(at, end - at) + "\n";
      at = end;
    }
    MESSAGE(lines << f.get("/_fake/conversations?agent_id=" + pete_agent).body << f.get("/_fake/stats").body
                  << f.get("/v1/conversations/conv-1/messages").body);
  }
  CHECK(d.stop() == 0);
}
