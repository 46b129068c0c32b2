// Integration: SIGTERM delivers (issue 12 item 5) — the turn_dropped(shutdown) of a turn still
// in Letta reaches the WebSocket client, which then gets a close frame (going away).
#include <doctest/doctest.h>
#include <signal.h>

#include <thread>

#include "tests/eventually.hpp"
#include "tests/integration/http_client.hpp"

using namespace orch::testing;

namespace {

std::string pete_and_diamond(const std::string& game) {
  return R"({"gameId":")" + game + R"(","timestamp":1,"events":[],"clusters":[],"humanContext":{
      "Pete":{"kind":"npc","id":"npc-pete","position":{"x":10,"y":3,"z":-12}},
      "Diamond":{"kind":"player","id":"2154372","position":{"x":8,"y":3,"z":-12}}}})";
}

// Reads frames until one contains `needle`; "" when the socket closes or 10 s pass (a read
// that times out leaves the stream unusable, so each read gets the time that is left).
std::string read_until(ws_client& ws, const std::string& needle) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return {};
    auto f = ws.read(left);
    if (f.empty()) return {};
    if (f.find(needle) != std::string::npos) return f;
  }
}

}  // namespace

TEST_CASE("shutdown: turn_dropped(shutdown) reaches a WebSocket client, then a close frame") {
  // Letta replies take 20 s, the drain gives up after 200 ms: the turn is still in Letta when
  // the conversations stop.
  daemon_under_test d(
      {"letta.simulated.latency_ms=20000", "server.drain_timeout_ms=200", "server.shutdown_flush_ms=5000"});
  REQUIRE(d.port() > 0);
  ws_client ws(d.port(), "/letta/v1/ws?gameId=shut&since=0");
  http_conn c(d.port());
  REQUIRE(c.post("/letta/v1/snapshot/game", pete_and_diamond("shut")).status == 202);
  REQUIRE(!read_until(ws, "cluster_update").empty());
  auto turn =
      c.post("/letta/v1/chat/turn",
             R"({"gameId":"shut","speaker":{"name":"Diamond","kind":"player"},"text":"Hi Pete","target":"Pete"})");
  REQUIRE(turn.status == 202);
  const auto id_at = turn.body.find("\"turnId\":\"");
  REQUIRE(id_at != std::string::npos);
  const std::string turn_id = turn.body.substr(id_at + 10, turn.body.find('"', id_at + 10) - id_at - 10);
  // Pete's reply call to Letta has started (and takes 20 s).
  REQUIRE(eventually([&] { return metric_value(c.get("/metrics").body, "npcorch_letta_in_flight") >= 1; }));

  ::kill(d.proc().pid(), SIGTERM);
  auto dropped = read_until(ws, "turn_dropped");
  CHECK(dropped.find("\"turnId\":\"" + turn_id + "\"") != std::string::npos);
  CHECK(dropped.find("\"reason\":\"shutdown\"") != std::string::npos);
  // Then the session closes with a close frame: the read ends in `closed` with its code.
  beast::flat_buffer buf;
  beast::error_code ec;
  beast::get_lowest_layer(ws.stream()).expires_after(std::chrono::seconds(10));
  ws.stream().read(buf, ec);
  CHECK(ec == beast::websocket::error::closed);
  CHECK(ws.stream().reason().code == beast::websocket::close_code::going_away);
  CHECK(d.proc().wait_exit(std::chrono::seconds(15)) == 0);
}
