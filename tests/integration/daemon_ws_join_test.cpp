// Integration (issue 9, DESIGN 3.3): WebSocket clients joining a busy game. The game has
// published more events than its replay buffer holds, and the backlog is larger than half a
// client's outbound bound (the defaults: 4 096 and 4 096, as in the crash report). Each
// joining client gets a reset frame and then every event after its `next`, without gaps,
// including one that joins while snapshots keep coming; nobody is cut off for the backlog it
// asked for, and the daemon stays up. (With the default byte cap the buffer holds fewer events;
// the second case and daemon_ws_test cover that.)
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "tests/eventually.hpp"
#include "tests/integration/http_client.hpp"

using namespace orch::testing;

namespace {

constexpr int pairs = 10;  // each snapshot joins or splits ten pairs: ten cluster_updates

std::string busy_snapshot(int seq) {
  std::string s = R"({"gameId":"busy","seq":)" + std::to_string(seq) +
                  R"(,"timestamp":1,"events":[],"clusters":[],"humanContext":{)";
  for (int k = 0; k < pairs; ++k) {
    const double x = 1000.0 * k;
    const double gap = seq % 2 ? 5.0 : 50.0;
    if (k) s += ',';
    s += "\"A" + std::to_string(k) + R"(":{"position":{"x":)" + std::to_string(x) + R"(,"y":0,"z":0}},)";
    s += "\"B" + std::to_string(k) + R"(":{"position":{"x":)" + std::to_string(x + gap) + R"(,"y":0,"z":0}})";
  }
  return s + "}}";
}

std::uint64_t number_after(const std::string& frame, const std::string& key) {
  auto p = frame.find("\"" + key + "\":");
  if (p == std::string::npos) return 0;
  return std::stoull(frame.substr(p + key.size() + 3));
}

std::uint64_t oldest_kept(http_conn& c) {
  auto r = c.get("/letta/v1/events?gameId=busy&since=0");
  return number_after(r.body, "seq");
}

// Bounds for positive waits, wide enough for the slowdown of a sanitizer build.
constexpr std::chrono::milliseconds slow_bound{120'000};
constexpr std::chrono::milliseconds frame_wait{30'000};

// The game's last seq, paging through the long-poll answers (each holds at most 1 000 events).
std::uint64_t last_seq(http_conn& c) {
  std::uint64_t since = 0;
  for (;;) {
    auto r = c.get("/letta/v1/events?gameId=busy&since=" + std::to_string(since));
    const auto next = number_after(r.body, "next");
    if (next == since) return since;
    since = next;
  }
}

// Reads a join: the reset frame, then events with consecutive seqs up to at least `until`.
// Returns the last seq read (0 on a malformed or missing frame).
std::uint64_t read_join(ws_client& ws, std::uint64_t until) {
  auto first = ws.read(frame_wait);
  REQUIRE(first.find("\"type\":\"reset\"") != std::string::npos);
  CHECK(first.find("\"seq\"") == std::string::npos);
  std::uint64_t last = number_after(first, "next");
  CHECK(last > 0);
  while (last < until) {
    auto f = ws.read(frame_wait);
    if (f.empty()) return 0;
    const auto seq = number_after(f, "seq");
    if (seq != last + 1) {
      FAIL_CHECK("gap or repeat: expected seq " << last + 1 << ", got " << seq);
      return 0;
    }
    last = seq;
  }
  return last;
}

}  // namespace

TEST_CASE("websocket: clients joining a busy game get a reset, then the live events, and the daemon stays up") {
  // The count caps of the crash report (4 096 events kept, 4 096 frames outbound); the byte
  // cap raised out of the way so that the backlog is larger than half the outbound bound.
  daemon_under_test d({"events.replay_bytes=67108864"});
  REQUIRE(d.port() > 0);
  http_conn c(d.port());
  int seq = 0;
  // More events than the replay buffer (4 096) holds: 600 snapshots make 6 000 when each is
  // applied, but a busy snapshot worker (a sanitizer build is 5-15 times slower) coalesces
  // some of them, so snapshots keep coming until the buffer has overflowed.
  int refused = 0;
  for (int i = 0; i < 600; ++i)
    refused += c.post("/letta/v1/snapshot/game", busy_snapshot(++seq)).status == 202 ? 0 : 1;
  REQUIRE(refused == 0);
  REQUIRE(eventually(
      [&] {
        if (oldest_kept(c) > 1) return true;
        for (int i = 0; i < 50; ++i)
          refused += c.post("/letta/v1/snapshot/game", busy_snapshot(++seq)).status == 202 ? 0 : 1;
        return false;
      },
      slow_bound));
  CHECK(refused == 0);

  // Five clients join with since=0, one after another; each stays connected.
  std::vector<std::unique_ptr<ws_client>> clients;
  std::vector<std::uint64_t> read_to;
  for (int k = 0; k < 5; ++k) {
    clients.push_back(std::make_unique<ws_client>(d.port(), "/letta/v1/ws?gameId=busy&since=0"));
    REQUIRE(clients.back()->handshake_response().result_int() == 101);
    const auto now_last = last_seq(c);
    read_to.push_back(read_join(*clients.back(), now_last));
    REQUIRE(read_to.back() >= now_last);
  }

  // A sixth joins while snapshots keep coming.
  std::atomic<bool> stop{false};
  std::atomic<int> posted{0};
  std::thread feeder([&] {
    http_conn f(d.port());
    int s = 10000;
    while (!stop.load() && posted.load() < 400) {
      if (f.post("/letta/v1/snapshot/game", busy_snapshot(++s)).status == 202) posted.fetch_add(1);
    }
  });
  REQUIRE(eventually([&] { return posted.load() >= 20; }, slow_bound));
  ws_client during(d.port(), "/letta/v1/ws?gameId=busy&since=0");
  REQUIRE(during.handshake_response().result_int() == 101);
  const auto during_last = read_join(during, 1);
  CHECK(during_last > 0);
  stop.store(true);
  feeder.join();

  // Every client then receives the live events after what it had, without a gap.
  std::uint64_t final_seq = 0;
  eventually([&] { return (final_seq = last_seq(c)) > read_to.back(); }, slow_bound);
  REQUIRE(final_seq > read_to.back());
  for (std::size_t k = 0; k < clients.size(); ++k) {
    std::uint64_t last = read_to[k];
    while (last < final_seq) {
      auto f = clients[k]->read(frame_wait);
      REQUIRE_FALSE(f.empty());
      const auto s = number_after(f, "seq");
      REQUIRE(s == last + 1);
      last = s;
    }
  }
  {
    std::uint64_t last = during_last;
    while (last < final_seq) {
      auto f = during.read(frame_wait);
      REQUIRE_FALSE(f.empty());
      const auto s = number_after(f, "seq");
      REQUIRE(s == last + 1);
      last = s;
    }
  }
  CHECK(d.metric("npcorch_ws_outbound_overflows_total") == 0);
  CHECK(d.metric("npcorch_ws_resets_total") == 6);
  CHECK(d.metric("npcorch_ws_clients") == 6);
  CHECK(c.get("/healthz").status == 200);
  CHECK(d.stop() == 0);
}

TEST_CASE("websocket: a since ahead of the log (as after a restart) gets a reset with next, then every event") {
  daemon_under_test d;
  REQUIRE(d.port() > 0);
  ws_client ws(d.port(), "/letta/v1/ws?gameId=fresh&since=12345");
  REQUIRE(ws.handshake_response().result_int() == 101);
  auto first = ws.read(frame_wait);
  CHECK(first == "{\"type\":\"reset\",\"next\":0}");
  http_conn c(d.port());
  REQUIRE(
      c.post("/letta/v1/snapshot/game", R"({"gameId":"fresh","timestamp":1,"events":[],"clusters":[],"humanContext":{
      "A":{"position":{"x":0,"y":0,"z":0}},"B":{"position":{"x":3,"y":0,"z":0}}}})")
          .status == 202);
  auto ev = ws.read(frame_wait);
  CHECK(number_after(ev, "seq") == 1);
  CHECK(ev.find("cluster_update") != std::string::npos);
  CHECK(d.stop() == 0);
}
