// Integration: hostile and careless clients (issue 12) — bounded games, connection limits,
// header timeouts, auth before the body, the WebSocket route. Real daemon, 127.0.0.1 only.
#include <doctest/doctest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "tests/eventually.hpp"
#include "tests/integration/http_client.hpp"

using namespace orch::testing;

namespace {

std::string snapshot_for(const std::string& game, int entities) {
  std::string s = R"({"gameId":")" + game + R"(","timestamp":1,"events":[],"clusters":[],"humanContext":{)";
  for (int i = 0; i < entities; ++i) {
    if (i) s += ',';
    s += "\"p" + std::to_string(i) + R"(":{"position":{"x":)" + std::to_string(i * 3) + R"(,"y":0,"z":0}})";
  }
  return s + "}}";
}

long rss_kb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

// A plain TCP connection for byte-level tests.
struct raw_socket {
  explicit raw_socket(int port) : sock(io) {
    sock.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  }
  bool send(const std::string& bytes) {
    beast::error_code ec;
    net::write(sock, net::buffer(bytes), ec);
    return !ec;
  }
  // Waits up to `timeout` for data or EOF; returns what was read, and sets closed on EOF/error.
  std::string read_some(std::chrono::milliseconds timeout, bool& closed) {
    closed = false;
    std::string out;
    char buf[4096];
    bool done = false;
    sock.async_read_some(net::buffer(buf), [&](beast::error_code ec, std::size_t n) {
      done = true;
      if (ec && ec != net::error::operation_aborted) closed = true;
      out.assign(buf, n);
    });
    io.restart();
    io.run_for(timeout);
    if (!done) {
      sock.cancel();
      io.restart();
      io.run();
    }
    return out;
  }
  net::io_context io;
  net::ip::tcp::socket sock;
};

}  // namespace

TEST_CASE(
    "invented game ids past events.max_games: refused while none is idle, active games untouched, "
    "evicted games answer reset, memory bounded") {
  daemon_under_test d({"events.max_games=40", "events.game_idle_s=2"});
  REQUIRE(d.port() > 0);
  http_conn c(d.port());
  REQUIRE(c.post("/letta/v1/snapshot/game", snapshot_for("active", 5)).status == 202);
  // The first invented games fill the table; with none idle the next is refused, not evicted.
  int accepted = 0, refused = 0;
  for (int i = 0; i < 60; ++i) {
    auto r = c.post("/letta/v1/snapshot/game", snapshot_for("inv-" + std::to_string(i), 5));
    if (r.status == 202) ++accepted;
    if (r.status == 429) {
      ++refused;
      CHECK(r.body.find("too_many_games") != std::string::npos);
      CHECK(!r.headers["Retry-After"].empty());
    }
  }
  CHECK(accepted <= 39);
  CHECK(refused >= 21);
  CHECK(d.metric("npcorch_games") <= 40);
  CHECK(d.metric("npcorch_games_refused_total") >= 21);
  // Events of an invented game a client read before it was evicted.
  auto first = c.get("/letta/v1/events?gameId=inv-0&since=0");
  REQUIRE(first.status == 200);

  // Keep "active" busy while invented ids keep coming: once the others have been idle for
  // game_idle_s they are evicted; "active" never is.
  const long rss_before = rss_kb(d.proc().pid());
  int later_accepted = 0, n = 1000;
  eventually(
      [&] {
        CHECK(c.post("/letta/v1/snapshot/game", snapshot_for("active", 5)).status == 202);
        for (int i = 0; i < 20; ++i)
          if (c.post("/letta/v1/snapshot/game", snapshot_for("inv-" + std::to_string(n++), 40)).status == 202)
            ++later_accepted;
        return later_accepted >= 100;
      },
      std::chrono::seconds(15));
  CHECK(later_accepted >= 100);
  CHECK(d.metric("npcorch_games_evicted_total") >= later_accepted - 40);
  CHECK(d.metric("npcorch_games") <= 40);
  const long rss_after = rss_kb(d.proc().pid());
  MESSAGE("RSS before " << rss_before << " kB, after " << later_accepted << " more invented games: " << rss_after
                        << " kB");
  // The evicted game's log answers a client ahead of it with a reset; the active one did not move.
  auto gone = c.get("/letta/v1/events?gameId=inv-0&since=5");
  CHECK(gone.status == 200);
  CHECK(gone.body.find("\"reset\":true") != std::string::npos);
  auto active = c.get("/letta/v1/events?gameId=active&since=0");
  CHECK(active.status == 200);
  CHECK(active.body.find("\"reset\"") == std::string::npos);
  CHECK(d.stop() == 0);
}

TEST_CASE("a slow header sender is cut at server.header_timeout_ms") {
  daemon_under_test d({"server.header_timeout_ms=300"});
  REQUIRE(d.port() > 0);
  raw_socket s(d.port());
  REQUIRE(s.send("GET /healthz HTTP/1.1\r\nX-Slow: "));
  bool closed = false;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!closed && std::chrono::steady_clock::now() < end) {
    if (!s.send("a")) break;  // one header byte at a time, never finishing
    s.read_some(std::chrono::milliseconds(50), closed);
  }
  if (!closed) s.read_some(std::chrono::seconds(2), closed);
  CHECK(closed);
  // Beast's timer closes the socket before the read handler that counts the timeout runs, so
  // the client may see the close first.
  CHECK(eventually([&] { return d.metric("npcorch_http_header_timeouts_total") >= 1; }));
  // A well-behaved client is unaffected.
  CHECK(http_conn(d.port()).get("/healthz").status == 200);
  CHECK(d.stop() == 0);
}

TEST_CASE("with auth, a request is refused from its headers: the body is never read, 404/405 only after auth") {
  const std::string token_file = "/tmp/npcorch-limits-token-" + std::to_string(::getpid());
  { std::ofstream(token_file) << "s3cret\n"; }
  daemon_under_test d({"server.auth_token_file=" + token_file});
  REQUIRE(d.port() > 0);
  {
    // Headers announce 1 MiB; none of it is sent. The 401 comes anyway.
    raw_socket s(d.port());
    REQUIRE(
        s.send("POST /letta/v1/snapshot/game HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Content-Length: 1000000\r\n\r\n"));
    bool closed = false;
    std::string answer;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (answer.find("\r\n\r\n") == std::string::npos && !closed && std::chrono::steady_clock::now() < end)
      answer += s.read_some(std::chrono::milliseconds(200), closed);
    CHECK(answer.rfind("HTTP/1.1 401", 0) == 0);
  }
  const std::vector<std::pair<std::string, std::string>> auth{{"Authorization", "Bearer s3cret"}};
  http_conn c(d.port());
  CHECK(metric_value(c.get("/metrics", auth).body, "npcorch_http_refused_before_body_total") >= 1);
  CHECK(c.get("/no/such/route").status == 401);
  CHECK(c.get("/no/such/route", auth).status == 404);
  CHECK(c.get("/letta/v1/snapshot/game", auth).status == 405);
  CHECK(http_conn(d.port()).post("/healthz", "{}").status == 405);  // /healthz needs no token
  std::remove(token_file.c_str());
  CHECK(d.stop() == 0);
}

TEST_CASE("a WebSocket upgrade is accepted on /letta/v1/ws only") {
  daemon_under_test d;
  REQUIRE(d.port() > 0);
  raw_socket s(d.port());
  REQUIRE(
      s.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
  bool closed = false;
  std::string answer;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (answer.find("\r\n\r\n") == std::string::npos && !closed && std::chrono::steady_clock::now() < end)
    answer += s.read_some(std::chrono::milliseconds(200), closed);
  CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(answer.find("alive") != std::string::npos);
  CHECK(d.stop() == 0);
}

TEST_CASE("connections per client address are capped at server.max_connections_per_ip") {
  daemon_under_test d({"server.max_connections_per_ip=3"});
  REQUIRE(d.port() > 0);
  std::vector<std::unique_ptr<http_conn>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<http_conn>(d.port()));
    REQUIRE(held.back()->get("/healthz").status == 200);
  }
  CHECK(http_conn(d.port(), std::chrono::seconds(5)).get("/healthz").status == 0);  // closed at accept
  held.pop_back();
  // Once one closes, a new connection gets in (the daemon notices the close asynchronously).
  CHECK(eventually([&] { return http_conn(d.port(), std::chrono::seconds(5)).get("/healthz").status == 200; }));
  CHECK(held[0]->get("/metrics").body.find("npcorch_http_connections_per_ip_refused_total") != std::string::npos);
  CHECK(metric_value(held[0]->get("/metrics").body, "npcorch_http_connections_per_ip_refused_total") >= 1);
  CHECK(d.stop() == 0);
}
