// npc-flood against a real daemon: the real binaries, 127.0.0.1 only, a few seconds each.
// The tool's pure parts are tested in tests/tools/.
#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/eventually.hpp"
#include "tests/integration/http_client.hpp"
#include "tests/integration/process.hpp"

namespace {

const std::string scenarios_dir = std::string(ORCH_SOURCE_DIR) + "/etc/scenarios/";

rapidjson::Document parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(s.c_str(), s.size());
  return d;
}

// Runs npc-flood with `args` against the daemon on `port` until it exits by itself (status 0)
// and returns its --json report.
rapidjson::Document run_flood(const std::filesystem::path& flood, int port, std::vector<std::string> args) {
  args.insert(args.begin(), {flood.string(), "--target", "http://127.0.0.1:" + std::to_string(port)});
  args.push_back("--json");
  orch::testing::child_process run(args);
  const auto line = run.wait_for_line("{", std::chrono::seconds(60));
  REQUIRE(line.has_value());
  auto report = parse("{" + *line);
  REQUIRE_FALSE(report.HasParseError());
  run.wait_for_line("\x01never", std::chrono::seconds(30));  // returns at EOF: the flood exited
  CHECK(run.stop() == 0);                                    // exit status 0, reached by itself
  return report;
}

}  // namespace

TEST_CASE("flood integration: malformed scenario against the daemon, every bad request a 4xx") {
  const auto flood = std::filesystem::path(ORCH_DAEMON_PATH).parent_path() / "npc-flood";
  // tests_integration depends on the npc-flood target, so it is always built beside the daemon.
  REQUIRE(std::filesystem::exists(flood));
  orch::testing::child_process daemon({ORCH_DAEMON_PATH, "--config",
                                       std::string(ORCH_SOURCE_DIR) + "/etc/npc-orchestrator.yaml", "--set",
                                       "server.listen=127.0.0.1:0", "--set", "letta.backend=simulated"});
  const int port = daemon.wait_for_port();
  REQUIRE(port > 0);
  const auto report = run_flood(flood, port, {"--scenario", scenarios_dir + "malformed.yaml", "--duration", "3"});
  // A failed expectation must report, not crash: look members up before reading them.
  auto member = [](const rapidjson::Value& v, const char* k) -> const rapidjson::Value* {
    return v.IsObject() && v.HasMember(k) ? &v[k] : nullptr;
  };
  auto number = [&](const rapidjson::Value* v) { return v && v->IsNumber() ? v->GetDouble() : -1.0; };
  const auto* bad = member(report, "malformed");
  REQUIRE(bad != nullptr);
  CHECK(number(member(*bad, "sent")) > 10);
  const auto* all_4xx = member(*bad, "all_4xx");
  CHECK((all_4xx && all_4xx->IsBool() && all_4xx->GetBool()));
  const auto* requests = member(report, "requests");
  const auto* snaps = requests ? member(*requests, "snapshot") : nullptr;
  REQUIRE(snaps != nullptr);
  const auto* statuses = member(*snaps, "statuses");
  CHECK(number(statuses ? member(*statuses, "202") : nullptr) > 0);
  CHECK(number(member(*snaps, "failed")) == 0);
  CHECK(number(member(report, "healthz_at_end")) == 200);
  const auto* daemon_figures = member(report, "daemon");
  REQUIRE(daemon_figures != nullptr);
  CHECK(number(member(*daemon_figures, "snapshots_applied")) > 0);
}

TEST_CASE("flood integration: town-12 against the daemon, turns matched to answers, transcript in the JSON") {
  const auto flood = std::filesystem::path(ORCH_DAEMON_PATH).parent_path() / "npc-flood";
  REQUIRE(std::filesystem::exists(flood));
  orch::testing::child_process daemon(
      {ORCH_DAEMON_PATH, "--config", std::string(ORCH_SOURCE_DIR) + "/etc/npc-orchestrator.yaml", "--set",
       "server.listen=127.0.0.1:0", "--set", "letta.backend=simulated", "--set", "letta.simulated.latency_ms=50"});
  const int port = daemon.wait_for_port();
  REQUIRE(port > 0);
  const auto report =
      run_flood(flood, port, {"--scenario", scenarios_dir + "town-12.yaml", "--duration", "4", "--transcript", "2"});
  REQUIRE(report.IsObject());
  REQUIRE(report.HasMember("chat"));
  const auto& chat = report["chat"];
  REQUIRE(chat.IsObject());
  // Every turn of town-12 names its NPC; 1.5 turns/s for 4 s.
  REQUIRE(chat.HasMember("accepted"));
  REQUIRE(chat.HasMember("addressed"));
  CHECK(chat["accepted"].GetUint64() >= 3);
  CHECK(chat["addressed"].GetUint64() == chat["accepted"].GetUint64());
  // Some turn got its outcome from the events (an answer or a drop).
  const auto replied = chat["replied"].GetUint64();
  std::uint64_t dropped = 0;
  for (const auto& d : chat["dropped"].GetObject()) dropped += d.value.GetUint64();
  CHECK(replied + dropped > 0);
  REQUIRE(report.HasMember("transcript"));
  REQUIRE(report["transcript"].IsArray());
  CHECK(report["transcript"].Size() == std::min<std::uint64_t>(2, replied));
  for (const auto& x : report["transcript"].GetArray()) {
    CHECK(std::string(x["npc"].GetString()) == x["target"].GetString());  // the addressed NPC answered
    CHECK(std::string(x["text"].GetString()).find(x["target"].GetString()) != std::string::npos);
  }
  if (replied > 0) CHECK(chat["reply_p50_ms"].IsNumber());
  // The Letta figures are present (null on a daemon that does not export them).
  REQUIRE(report.HasMember("daemon"));
  CHECK(report["daemon"].HasMember("block_lag_p95_s"));
  CHECK(report["daemon"].HasMember("letta_requests"));
}

TEST_CASE("flood integration: --game-prefix names every game the flood makes, and no other game appears") {
  // bench/soak.sh runs floods side by side, each on its own games through --game-prefix.
  const auto flood = std::filesystem::path(ORCH_DAEMON_PATH).parent_path() / "npc-flood";
  REQUIRE(std::filesystem::exists(flood));
  orch::testing::daemon_under_test d;
  REQUIRE(d.port() > 0);
  const auto report = run_flood(
      flood, d.port(),
      {"--scenario", scenarios_dir + "servers-20.yaml", "--games", "3", "--duration", "2", "--game-prefix", "soak-x-"});
  REQUIRE((report.IsObject() && report.HasMember("requests") && report["requests"].HasMember("snapshot")));
  const auto& statuses = report["requests"]["snapshot"]["statuses"];
  REQUIRE((statuses.IsObject() && statuses.HasMember("202")));
  CHECK(statuses["202"].GetDouble() > 0);
  // From the daemon's side: it tracks exactly the flood's three games (every request of the
  // flood was answered before it exited, and a game is tracked from its first accepted request)...
  CHECK(d.metric("npcorch_games") == 3);
  // ...and they are soak-x-1..3, each with the events of its snapshots.
  orch::testing::http_conn c(d.port());
  for (int i = 1; i <= 3; ++i) {
    const std::string target = "/letta/v1/events?gameId=soak-x-" + std::to_string(i) + "&since=0";
    CHECK_MESSAGE(orch::testing::eventually(
                      [&] { return c.get(target).body.find("\"type\":\"cluster_update\"") != std::string::npos; }),
                  target);
  }
}

TEST_CASE("flood command line: the scenario's daemon settings as --set lines, bad options exit 2") {
  const auto flood = (std::filesystem::path(ORCH_DAEMON_PATH).parent_path() / "npc-flood").string();
  REQUIRE(std::filesystem::exists(flood));
  {
    orch::testing::child_process run({flood, "--scenario", scenarios_dir + "town-12.yaml", "--daemon-settings"});
    const int status = run.wait_exit(std::chrono::seconds(20));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    const auto lines = run.lines();
    CHECK(std::find(lines.begin(), lines.end(), "letta.simulated.latency_ms=500") != lines.end());
    CHECK(std::find(lines.begin(), lines.end(), "letta.simulated.block_latency_ms=20") != lines.end());
  }
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {flood, "--games", "0", "--target", "http://127.0.0.1:1"},
           {flood, "--no-such-option"},
           {flood, "--target", "http://127.0.0.1:1"},  // no --scenario
           {flood, "--scenario", scenarios_dir + "no-such.yaml", "--daemon-settings"}}) {
    orch::testing::child_process run(bad);
    const int status = run.wait_exit(std::chrono::seconds(20));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 2);
  }
}
