// Integration: the real daemon on a free port, spoken to over HTTP (DESIGN 3.1, 3.4, 7).
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/eventually.hpp"
#include "tests/integration/http_client.hpp"

using namespace orch::testing;

namespace {

const std::string fixture = read_file(ORCH_SHARED_DIR "/fixtures/original/sample_snapshot.json");

std::string snapshot_for(const std::string& game, int seq) {
  return R"({"gameId":")" + game + R"(","seq":)" + std::to_string(seq) +
         R"(,"timestamp":1737874917,"events":[],"clusters":[],"humanContext":{
      "Pete":{"kind":"npc","id":"npc-pete","position":{"x":10,"y":3,"z":-12}},
      "Diamond":{"kind":"player","id":"2154372","position":{"x":)" +
         std::to_string(8 + seq % 5) + R"(,"y":3,"z":-12}}}})";
}

}  // namespace

TEST_CASE("the original fixture is accepted unchanged and the daemon reports itself") {
  REQUIRE(!fixture.empty());
  daemon_under_test d;
  REQUIRE(d.port() > 0);
  http_conn c(d.port());
  auto r = c.post("/letta/v1/snapshot/game", fixture);
  CHECK(r.status == 202);
  CHECK(r.body == R"({"status":"success","gameId":"default","queue":"urgent"})");
  CHECK(c.get("/healthz").status == 200);
  auto ready = c.get("/readyz");
  CHECK(ready.status == 200);
  CHECK(ready.body.find("\"simulated\"") != std::string::npos);
  auto m = c.get("/metrics");
  CHECK(m.status == 200);
  CHECK(m.headers["Content-Type"].rfind("text/plain", 0) == 0);
  CHECK(metric_value(m.body, "npcorch_queue_accepted_total{queue=\"urgent\"}") >= 1);
  CHECK(m.body.find("npcorch_queue_wait_seconds_bucket{queue=\"urgent\",le=\"0.5\"}") != std::string::npos);
  CHECK(d.stop() == 0);  // SIGTERM drains and exits 0
}

TEST_CASE("every bad input gets its status and a JSON error naming the field and the daemon stays up") {
  daemon_under_test d({"server.max_body_bytes=4096"});
  REQUIRE(d.port() > 0);
  http_conn c(d.port());
  struct bad_case {
    std::string body;
    int status;
    std::string error;
    std::string detail_part;
  };
  const std::vector<bad_case> cases = {
      {"{\"timestamp\":1,", 400, "invalid_json", ""},
      {"{\"timestamp\":NaN,\"events\":[],\"clusters\":[],\"humanContext\":{}}", 400, "invalid_json", ""},
      {"{\"timestamp\":1e400,\"events\":[],\"clusters\":[],\"humanContext\":{}}", 400, "invalid_json", ""},
      {std::string(100, '[') + std::string(100, ']'), 400, "invalid_json", "nesting"},
      {"{\"timestamp\":1,\"events\":[],\"clusters\":[],\"humanContext\":{\"\xff\xfe\":{}}}", 400, "invalid_json", ""},
      {"[]", 400, "invalid_snapshot", "(root)"},
      {"{\"events\":[],\"clusters\":[],\"humanContext\":{}}", 400, "invalid_snapshot", "timestamp: required"},
      {"{\"timestamp\":\"x\",\"events\":[],\"clusters\":[],\"humanContext\":{}}", 400, "invalid_snapshot", "timestamp"},
      {"{\"timestamp\":1,\"events\":{},\"clusters\":[],\"humanContext\":{}}", 400, "invalid_snapshot",
       "events: expected an array"},
      {"{\"timestamp\":1,\"events\":[],\"clusters\":[{\"members\":[1]}],\"humanContext\":{}}", 400, "invalid_snapshot",
       "clusters[0].members[0]"},
      {"{\"timestamp\":1,\"events\":[],\"clusters\":[],\"humanContext\":{\"Diamond\":{\"position\":{\"x\":\"a\",\"y\":"
       "1,\"z\":2}}}}",
       400, "invalid_snapshot", "humanContext.Diamond.position.x: expected a number"},
      {"{\"timestamp\":1,\"events\":[],\"clusters\":[],\"humanContext\":{\"Diamond\":{\"health\":{\"isMoving\":3}}}}",
       400, "invalid_snapshot", "humanContext.Diamond.health.isMoving"},
      {"{\"timestamp\":1,\"events\":[],\"clusters\":[],\"humanContext\":{},\"seq\":-1}", 400, "invalid_snapshot",
       "seq"},
      {std::string(5000, ' '), 413, "too_large", "max_body_bytes"},
  };
  for (auto& bc : cases) {
    CAPTURE(bc.body.substr(0, 80));
    http_conn one(d.port());  // 413 closes its connection
    auto r = one.post("/letta/v1/snapshot/game", bc.body);
    CHECK(r.status == bc.status);
    CHECK(r.body.find("\"error\":\"" + bc.error + "\"") != std::string::npos);
    CHECK(r.body.find(bc.detail_part) != std::string::npos);
    if (bc.error == "invalid_json" && bc.detail_part.empty()) CHECK(r.body.find("\"offset\":") != std::string::npos);
  }
  auto r = c.request(http::verb::post, "/letta/v1/snapshot/game", fixture, {}, "text/plain");
  CHECK(r.status == 415);
  CHECK(r.body.find("Content-Type") != std::string::npos);
  r = c.get("/letta/v1/snapshot/game");
  CHECK(r.status == 405);
  CHECK(r.headers["Allow"] == "POST");
  r = c.get("/no/such/route");
  CHECK(r.status == 404);
  CHECK(r.body.find("\"error\":\"not_found\"") != std::string::npos);
  r = c.post("/letta/v1/chat/turn", R"({"gameId":"g","speaker":{"name":""},"text":"hi"})");
  CHECK(r.status == 400);
  CHECK(r.body.find("speaker.name") != std::string::npos);
  r = c.post("/letta/v1/chat/v3",
             R"({"npc_id":"npc-nobody","participant_id":"1","messages":[{"role":"user","content":"hi","name":"A"}]})");
  CHECK(r.status == 404);
  CHECK(r.body.find("npc_id") != std::string::npos);
  r = c.get("/letta/v1/events?since=0");
  CHECK(r.status == 400);
  CHECK(r.body.find("gameId") != std::string::npos);
  // Behind nginx the long-poll was routed by X-Game-Id: a query naming another game is refused.
  r = c.get("/letta/v1/events?gameId=b&since=0&wait_ms=0", {{"X-Game-Id", "a"}});
  CHECK(r.status == 400);
  CHECK(r.body.find("gameId: 'b' disagrees with the X-Game-Id header 'a'") != std::string::npos);
  CHECK(c.get("/letta/v1/events?gameId=a&since=0&wait_ms=0", {{"X-Game-Id", "a"}}).status == 200);
  {
    http_conn raw(d.port());
    auto g = raw.raw("POST /letta/v1/snapshot/game HTTP/1.1\r\nContent-Length: abc\r\n\r\n");
    CHECK(g.status == 400);
    CHECK(g.body.find("bad_request") != std::string::npos);
  }
  // Still alive and still accepting good input on a fresh connection.
  http_conn after(d.port());
  CHECK(after.get("/healthz").status == 200);
  CHECK(after.post("/letta/v1/snapshot/game", fixture).status == 202);
  CHECK(d.metric("npcorch_http_bad_requests_total") >= static_cast<double>(cases.size()));
  CHECK(d.stop() == 0);
}

TEST_CASE("bearer auth guards every route but /healthz") {
  const std::string token_file = "/tmp/npcorch-test-token-" + std::to_string(::getpid());
  { std::ofstream(token_file) << "s3cret\n"; }
  daemon_under_test d({"server.auth_token_file=" + token_file});
  REQUIRE(d.port() > 0);
  http_conn c(d.port());
  CHECK(c.get("/healthz").status == 200);
  CHECK(c.get("/metrics").status == 401);
  // A refused POST's body is never read, so each closes its connection.
  CHECK(http_conn(d.port()).post("/letta/v1/snapshot/game", fixture).status == 401);
  CHECK(http_conn(d.port()).post("/letta/v1/snapshot/game", fixture, {{"Authorization", "Bearer wrong!"}}).status ==
        401);
  CHECK(c.post("/letta/v1/snapshot/game", fixture, {{"Authorization", "Bearer s3cret"}}).status == 202);
  CHECK(c.get("/metrics", {{"Authorization", "Bearer s3cret"}}).status == 200);
  std::remove(token_file.c_str());
  CHECK(d.stop() == 0);
}

TEST_CASE("positions make daemon clusters and events come back by long-poll with since/next") {
  // One subscriber per game, so that a probing long-poll is refused (429) exactly while the
  // poller below is subscribed: that is how the test knows it subscribed first.
  daemon_under_test d({"events.max_subscribers_per_game=1"});
  REQUIRE(d.port() > 0);
  http_conn c(d.port());
  // Subscribe before the game's first snapshot: the long-poll answers when the event lands.
  std::atomic<int> poll_status{0};
  std::string poll_body;
  std::thread poller([&] {
    http_conn p(d.port());
    // A probe may hold the one slot for its 1 ms: then the poller is refused and tries again.
    for (int i = 0; i < 1000; ++i) {
      auto r = p.get("/letta/v1/events?gameId=walk&since=0&wait_ms=10000");
      if (r.status == 429) continue;
      poll_body = r.body;
      poll_status = r.status;
      break;
    }
  });
  const bool subscribed =
      eventually([&] { return c.get("/letta/v1/events?gameId=walk&since=0&wait_ms=1").status == 429; });
  REQUIRE(subscribed);
  REQUIRE(c.post("/letta/v1/snapshot/game", snapshot_for("walk", 1)).status == 202);
  poller.join();
  CHECK(poll_status == 200);
  CHECK(poll_body.find("\"seq\":1,\"type\":\"cluster_update\"") != std::string::npos);
  CHECK(poll_body.find("\"members\":[\"Diamond\",\"Pete\"]") != std::string::npos);
  CHECK(poll_body.find("\"positions\":{") != std::string::npos);
  CHECK(poll_body.find("\"next\":1") != std::string::npos);
  // Nothing newer: an immediate answer with next == since.
  auto r = c.get("/letta/v1/events?gameId=walk&since=1");
  CHECK(r.body == R"({"events":[],"next":1})");
  // Diamond walks away: the cluster dissolves in that very snapshot, with `left`.
  const std::string away = R"({"gameId":"walk","seq":2,"timestamp":1,"events":[],"clusters":[],"humanContext":{
      "Pete":{"kind":"npc","position":{"x":10,"y":3,"z":-12}},"Diamond":{"kind":"player","position":{"x":80,"y":3,"z":-12}}}})";
  REQUIRE(c.post("/letta/v1/snapshot/game", away).status == 202);
  r = c.get("/letta/v1/events?gameId=walk&since=1&wait_ms=5000");
  CHECK(r.body.find("\"seq\":2") != std::string::npos);
  CHECK(r.body.find("\"left\":[\"Diamond\",\"Pete\"]") != std::string::npos);
  // A stale seq is answered 202 and dropped (counted), producing no event.
  REQUIRE(c.post("/letta/v1/snapshot/game", snapshot_for("walk", 1)).status == 202);
  CHECK(eventually([&] { return d.metric("npcorch_snapshots_stale_total") >= 1; }));
  CHECK(d.metric("npcorch_snapshots_stale_total") == 1);
  CHECK(c.get("/letta/v1/events?gameId=walk&since=2").body == R"({"events":[],"next":2})");
  CHECK(d.stop() == 0);
}

TEST_CASE("SIGHUP reload under a steady stream of snapshots loses none and a bad file is refused") {
  const std::string dir = "/tmp/npcorch-reload-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string cfg = dir + "/orch.yaml";
  auto write_cfg = [&](int latency_ms, int workers) {
    std::ofstream(cfg) << "world:\n  registry_file: " ORCH_SOURCE_DIR "/etc/world.yaml\n"
                       << "queues:\n  urgent:\n    max_latency_ms: " << latency_ms << "\n    workers: " << workers
                       << "\n";
  };
  write_cfg(500, 5);
  daemon_under_test d({}, cfg);
  REQUIRE(d.port() > 0);
  std::atomic<bool> stop{false};
  std::atomic<int> accepted{0}, other{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < 3; ++t)
    senders.emplace_back([&, t] {
      http_conn c(d.port());
      for (int i = 1; !stop; ++i) {
        auto r =
            c.post("/letta/v1/snapshot/game", snapshot_for("g" + std::to_string(t) + "-" + std::to_string(i % 40), i));
        (r.status == 202 ? accepted : other)++;
      }
    });
  // Each step waits for the daemon to observe the previous one (its metrics), never a fixed time,
  // so two signals cannot coalesce into one reload.
  REQUIRE(eventually([&] { return accepted.load() >= 30; }));
  write_cfg(250, 2);
  ::kill(d.proc().pid(), SIGHUP);
  REQUIRE(eventually([&] { return d.metric("npcorch_config_reloads_total") >= 1; }));
  { std::ofstream(cfg) << "queues:\n  urgent:\n    max_latency_ms: -5\n"; }
  ::kill(d.proc().pid(), SIGHUP);
  REQUIRE(eventually([&] { return d.metric("npcorch_config_reload_failures_total") >= 1; }));
  // The stream keeps going after both reloads.
  const int after_reloads = accepted.load();
  REQUIRE(eventually([&] { return accepted.load() >= after_reloads + 30; }));
  stop = true;
  for (auto& s : senders) s.join();
  CHECK(other == 0);
  REQUIRE(accepted > 0);
  auto m = d.metrics();
  CHECK(metric_value(m, "npcorch_config_reloads_total") == 1);
  CHECK(metric_value(m, "npcorch_config_reload_failures_total") == 1);
  CHECK(metric_value(m, "npcorch_queue_workers{queue=\"urgent\"}") == 2);
  // Every accepted snapshot was either applied or coalesced into a newer one of its game.
  double done = 0;
  eventually([&] {
    m = d.metrics();
    done = metric_value(m, "npcorch_snapshots_applied_total") +
           metric_value(m, "npcorch_queue_coalesced_total{queue=\"urgent\"}") +
           metric_value(m, "npcorch_snapshots_stale_total");
    return done >= accepted;
  });
  CHECK(metric_value(m, "npcorch_queue_accepted_total{queue=\"urgent\"}") == accepted.load());
  CHECK(done == accepted.load());
  CHECK(d.stop() == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("--check-config exits 0 for the shipped file and 1 naming the path for a bad one") {
  {
    child_process p({ORCH_DAEMON_PATH, "--config", ORCH_SOURCE_DIR "/etc/npc-orchestrator.yaml", "--check-config"});
    int st = p.wait_exit(std::chrono::seconds(30));
    CHECK(p.lines().size() == 1);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
  }
  {
    child_process p({ORCH_DAEMON_PATH, "--config", ORCH_SOURCE_DIR "/etc/npc-orchestrator.yaml", "--set",
                     "queues.urgent.max_latency_ms=zero", "--check-config"});
    int st = p.wait_exit(std::chrono::seconds(30));
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 1);
  }
}

TEST_CASE("a full queue answers 429 with Retry-After and counts the rejection") {
  // One urgent worker, held by Pete's slow memory sync routed there; capacity 2 behind it.
  daemon_under_test d({"queues.urgent.workers=1", "queues.urgent.capacity=2", "routes.memory_sync=urgent",
                       "letta.simulated.latency_ms=4000", "server.drain_timeout_ms=500"});
  REQUIRE(d.port() > 0);
  http_conn c(d.port());
  REQUIRE(c.post("/letta/v1/snapshot/game", snapshot_for("busy", 1)).status == 202);
  REQUIRE(eventually([&] {
    return d.metric("npcorch_queue_in_flight{queue=\"urgent\"}") == 1 &&
           d.metric("npcorch_queue_depth{queue=\"urgent\"}") == 0;
  }));
  CHECK(c.post("/letta/v1/snapshot/game", snapshot_for("other-1", 1)).status == 202);
  CHECK(c.post("/letta/v1/snapshot/game", snapshot_for("other-2", 1)).status == 202);
  auto r = c.post("/letta/v1/snapshot/game", snapshot_for("other-3", 1));
  CHECK(r.status == 429);
  CHECK(r.body.find("\"error\":\"overloaded\"") != std::string::npos);
  CHECK(!r.headers["Retry-After"].empty());
  CHECK(std::stoi(r.headers["Retry-After"]) >= 1);
  CHECK(d.metric("npcorch_queue_rejected_total{queue=\"urgent\"}") == 1);
  CHECK(d.stop() == 0);
}
