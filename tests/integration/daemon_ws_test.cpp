// Integration: the WebSocket endpoint (DESIGN 3.3): backlog and live events, frames in,
// error frames for bad frames, resumption with `since`, and the cut-off of a client that
// reads nothing.
#include <doctest/doctest.h>

#include <thread>

#include "tests/eventually.hpp"
#include "tests/integration/http_client.hpp"

using namespace orch::testing;

namespace {

std::string walk_snapshot(const std::string& game, int seq, double diamond_x) {
  return R"({"gameId":")" + game + R"(","seq":)" + std::to_string(seq) +
         R"(,"timestamp":1,"events":[],"clusters":[],"humanContext":{
      "Pete":{"kind":"npc","id":"npc-pete","position":{"x":10,"y":3,"z":-12}},
      "Diamond":{"kind":"player","id":"2154372","position":{"x":)" +
         std::to_string(diamond_x) + R"(,"y":3,"z":-12}}}})";
}

}  // namespace

TEST_CASE("websocket: events pushed in order, frames accepted, bad frames answered, resume with since") {
  daemon_under_test d;
  REQUIRE(d.port() > 0);
  // Subscribe before the game exists.
  ws_client ws(d.port(), "/letta/v1/ws?gameId=wsgame&since=0");
  CHECK(ws.handshake_response().result_int() == 101);
  // A snapshot sent as a frame is acknowledged, and its cluster_update is pushed.
  std::string snap = walk_snapshot("wsgame", 1, 8);
  ws.send("{\"type\":\"snapshot\"," + snap.substr(1));
  std::vector<std::string> got;
  for (int i = 0; i < 2; ++i) got.push_back(ws.read());
  bool ack = false, update = false;
  for (auto& f : got) {
    ack |= f.find("\"type\":\"ack\"") != std::string::npos;
    update |= f.find("\"seq\":1,\"type\":\"cluster_update\"") != std::string::npos;
  }
  CHECK(ack);
  CHECK(update);
  // A bad frame gets an error frame without seq, and the connection stays open.
  ws.send("{\"type\":\"snapshot\",\"timestamp\":\"x\"}");
  auto err = ws.read();
  CHECK(err.find("\"type\":\"error\"") != std::string::npos);
  CHECK(err.find("timestamp") != std::string::npos);
  CHECK(err.find("\"seq\"") == std::string::npos);
  ws.send("not json");
  CHECK(ws.read().find("invalid_json") != std::string::npos);
  ws.close();

  // While disconnected, two more changes happen; resuming with since=1 delivers both, in order.
  http_conn c(d.port());
  REQUIRE(c.post("/letta/v1/snapshot/game", walk_snapshot("wsgame", 2, 90)).status == 202);
  // Snapshot 2 is worked on before 3 is sent: a newer snapshot replaces one not yet started.
  REQUIRE(eventually(
      [&] { return c.get("/letta/v1/events?gameId=wsgame&since=1").body.find("\"left\"") != std::string::npos; }));
  REQUIRE(c.post("/letta/v1/snapshot/game", walk_snapshot("wsgame", 3, 9)).status == 202);
  REQUIRE(eventually(
      [&] { return c.get("/letta/v1/events?gameId=wsgame&since=2").body.find("\"seq\":3") != std::string::npos; }));
  ws_client again(d.port(), "/letta/v1/ws?gameId=wsgame&since=1");
  auto e2 = again.read();
  auto e3 = again.read();
  CHECK(e2.find("\"seq\":2,") != std::string::npos);
  CHECK(e2.find("\"left\":[\"Diamond\",\"Pete\"]") != std::string::npos);
  CHECK(e3.find("\"seq\":3,") != std::string::npos);
  CHECK(e3.find("\"joined\":[\"Diamond\",\"Pete\"]") != std::string::npos);
  CHECK(d.metric("npcorch_ws_events_sent_total") >= 3);
  CHECK(d.stop() == 0);
}

TEST_CASE("websocket: a client that reads nothing is cut off while the daemon stays bounded") {
  daemon_under_test d({"server.ws_outbound_max=64", "events.replay_capacity=256"});
  REQUIRE(d.port() > 0);
  ws_client idle(d.port(), "/letta/v1/ws?gameId=flood&since=0", /*deflate=*/false, /*rcvbuf=*/4096);
  // Produce 10 000 events: Diamond walks in and out of Pete's range on every snapshot.
  http_conn c(d.port());
  int accepted = 0;
  for (int i = 1; i <= 10000; ++i)
    if (c.post("/letta/v1/snapshot/game", walk_snapshot("flood", i, i % 2 ? 8 : 90)).status == 202) ++accepted;
  CHECK(accepted == 10000);
  // Coalescing may fold a few snapshots, but thousands of events were produced.
  auto last = c.get("/letta/v1/events?gameId=flood&since=99999999");
  CHECK(last.status == 200);
  CHECK(eventually([&] { return d.metric("npcorch_ws_outbound_overflows_total") >= 1; }));
  CHECK(d.metric("npcorch_ws_outbound_overflows_total") == 1);
  // The cut-off session is torn down asynchronously.
  CHECK(eventually([&] { return d.metric("npcorch_ws_clients") == 0; }));
  // The replay buffer kept only its bound; an old `since` is told to reset.
  auto r = c.get("/letta/v1/events?gameId=flood&since=0");
  CHECK(r.body.find("\"reset\":true") != std::string::npos);
  CHECK(c.get("/healthz").status == 200);
  CHECK(d.stop() == 0);
}

TEST_CASE("websocket: with X-Game-Id on the upgrade, frames naming another game are refused and not queued") {
  // DESIGN 10: behind nginx this connection was routed by its X-Game-Id; a frame for another
  // game would be worked on by a daemon that does not own it (as an HTTP body would).
  daemon_under_test d;
  REQUIRE(d.port() > 0);
  const double bad_before = d.metric("npcorch_http_bad_requests_total");
  ws_client ws(d.port(), "/letta/v1/ws?gameId=hdr-a&since=0", /*deflate=*/true, /*rcvbuf=*/0, {{"X-Game-Id", "hdr-a"}});
  CHECK(ws.handshake_response().result_int() == 101);
  ws.send("{\"type\":\"snapshot\"," + walk_snapshot("hdr-b", 1, 8).substr(1));
  const auto e1 = ws.read();
  CHECK(e1.find("\"type\":\"error\",\"error\":\"invalid_snapshot\"") != std::string::npos);
  CHECK(e1.find("gameId: 'hdr-b' disagrees with the X-Game-Id header 'hdr-a'") != std::string::npos);
  CHECK(e1.find("\"seq\"") == std::string::npos);
  ws.send(R"({"type":"chat","gameId":"hdr-b","speaker":{"name":"Diamond","kind":"player"},"text":"Pete, hi"})");
  const auto e2 = ws.read();
  CHECK(e2.find("\"type\":\"error\",\"error\":\"invalid_turn\"") != std::string::npos);
  CHECK(e2.find("gameId: 'hdr-b' disagrees") != std::string::npos);
  // A snapshot frame without gameId is the header's game, as over HTTP: acknowledged, its event
  // pushed.
  std::string own = walk_snapshot("hdr-a", 1, 8);
  own.replace(own.find("\"gameId\":\"hdr-a\","), std::string("\"gameId\":\"hdr-a\",").size(), "");
  ws.send("{\"type\":\"snapshot\"," + own.substr(1));
  bool ack = false, update = false;
  for (int i = 0; i < 2; ++i) {
    const auto f = ws.read();
    ack |= f.find("\"type\":\"ack\",\"status\":\"success\",\"gameId\":\"hdr-a\"") != std::string::npos;
    update |= f.find("\"seq\":1,\"type\":\"cluster_update\"") != std::string::npos;
  }
  CHECK(ack);
  CHECK(update);
  // Frames are handled in order: by the third one's ack, the first two were refused without
  // admitting or queueing anything for hdr-b.
  CHECK(d.metric("npcorch_games") == 1);
  CHECK(d.metric("npcorch_http_bad_requests_total") == bad_before + 2);
  http_conn c(d.port());

  // The upgrade itself: an X-Game-Id naming another game than the query's is refused.
  const auto refused = c.get("/letta/v1/ws?gameId=hdr-b&since=0", {{"Upgrade", "websocket"},
                                                                   {"Connection", "Upgrade"},
                                                                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                                                   {"Sec-WebSocket-Version", "13"},
                                                                   {"X-Game-Id", "hdr-a"}});
  CHECK(refused.status == 400);
  CHECK(refused.body.find("disagrees with the X-Game-Id header") != std::string::npos);
  CHECK(d.metric("npcorch_http_bad_requests_total") == bad_before + 3);

  // Without X-Game-Id (one daemon, no nginx) a connection may send frames for any game.
  ws_client plain(d.port(), "/letta/v1/ws?gameId=hdr-a&since=1");
  plain.send("{\"type\":\"snapshot\"," + walk_snapshot("hdr-c", 1, 8).substr(1));
  CHECK(plain.read().find("\"type\":\"ack\",\"status\":\"success\",\"gameId\":\"hdr-c\"") != std::string::npos);
  CHECK(d.stop() == 0);
}
