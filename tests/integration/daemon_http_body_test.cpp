// Integration: how the server reads a snapshot's body — kept in the connection's read buffer
// and parsed there, not copied into a string body — in pieces, larger than the initial buffer,
// pipelined with the next requests, cut short, and answered exactly as the string-body path
// (a chunked body) answers. Real daemon, 127.0.0.1 only.
#include <doctest/doctest.h>

#include <string>

#include "tests/integration/http_client.hpp"

using namespace orch::testing;

namespace {

// One connection that writes raw bytes and reads answers one at a time (each bounded in time).
class raw_conn {
 public:
  explicit raw_conn(int port) : stream_(io_) {
    stream_.expires_after(std::chrono::seconds(10));
    stream_.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    stream_.socket().set_option(net::ip::tcp::no_delay(true));
  }
  bool send(const std::string& bytes) {
    beast::error_code ec;
    stream_.expires_after(std::chrono::seconds(10));
    net::write(stream_, net::buffer(bytes), ec);
    return !ec;
  }
  void shutdown_send() {
    beast::error_code ignored;
    stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  }
  // The next answer; status 0 when the connection ended (or timed out) first.
  http_result answer() {
    http_result out;
    beast::error_code ec;
    http::response_parser<http::string_body> parser;
    stream_.expires_after(std::chrono::seconds(10));
    http::read(stream_, buffer_, parser, ec);
    if (ec) return out;
    out.status = static_cast<int>(parser.get().result_int());
    out.body = parser.get().body();
    for (auto& f : parser.get()) out.headers[std::string(f.name_string())] = std::string(f.value());
    return out;
  }

 private:
  net::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

// A snapshot of `entities` entities, each with a 600-byte appearance: ~70 KB for 100, more
// than the connection's initial 32 KiB buffer.
std::string snapshot(const std::string& game, int entities) {
  std::string s = R"({"gameId":")" + game + R"(","timestamp":1737874917,"events":[],"clusters":[],"humanContext":{)";
  for (int i = 0; i < entities; ++i) {
    if (i) s += ',';
    s += "\"E" + std::to_string(i) + R"(":{"kind":"npc","id":"npc-)" + std::to_string(i) + R"(","position":{"x":)" +
         std::to_string(i * 3) + R"(,"y":0,"z":0},"appearance":")" + std::string(600, 'a') + "\"}";
  }
  return s + "}}";
}

std::string post(const std::string& body, const std::string& extra_headers = {}) {
  return "POST /letta/v1/snapshot/game HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// The same body sent chunked (read by Beast into a string body, as every other route's).
std::string post_chunked(const std::string& body) {
  std::string s =
      "POST /letta/v1/snapshot/game HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (std::size_t at = 0; at < body.size(); at += 1000) {
    const std::string part = body.substr(at, 1000);
    char len[32];
    std::snprintf(len, sizeof len, "%zx\r\n", part.size());
    s += len + part + "\r\n";
  }
  return s + "0\r\n\r\n";
}

}  // namespace

TEST_CASE(
    "a snapshot body larger than the read buffer, sent in pieces, then two pipelined requests: answered in order") {
  daemon_under_test d;
  REQUIRE(d.port() > 0);
  raw_conn c(d.port());
  const std::string first = post(snapshot("body-a", 100));
  REQUIRE(first.size() > 64 * 1024);
  // The headers and the start of the body, then the rest with two more requests in one write.
  REQUIRE(c.send(first.substr(0, 5000)));
  REQUIRE(c.send(first.substr(5000) + post(snapshot("body-b", 3)) + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto a = c.answer();
  CHECK(a.status == 202);
  CHECK(a.body == R"({"status":"success","gameId":"body-a","queue":"urgent"})");
  auto b = c.answer();
  CHECK(b.status == 202);
  CHECK(b.body == R"({"status":"success","gameId":"body-b","queue":"urgent"})");
  auto h = c.answer();
  CHECK(h.status == 200);
  CHECK(h.body == R"({"status":"alive"})");
  // The same connection keeps serving snapshots of every size (400 entities, ~270 KB, is
  // above what a connection's buffer keeps between requests: given back, then regrown).
  for (int n : {1, 150, 2, 400, 3, 400}) {
    REQUIRE(c.send(post(snapshot("body-c", n))));
    CHECK(c.answer().status == 202);
  }
  CHECK(d.metric("npcorch_queue_accepted_total{queue=\"urgent\"}") >= 8);
  CHECK(d.stop() == 0);
}

TEST_CASE("a snapshot body cut short by the client is answered 400 partial message and the connection closes") {
  daemon_under_test d;
  REQUIRE(d.port() > 0);
  raw_conn c(d.port());
  const std::string req = post(snapshot("cut", 20));
  REQUIRE(c.send(req.substr(0, req.size() - 100)));
  c.shutdown_send();
  auto r = c.answer();
  CHECK(r.status == 400);
  CHECK(r.body == R"({"error":"bad_request","detail":"http: partial message"})");
  CHECK(r.headers["Connection"] == "close");
  CHECK(c.answer().status == 0);  // closed
  CHECK(d.metric("npcorch_queue_accepted_total{queue=\"urgent\"}") == 0);
  CHECK(d.stop() == 0);
}

TEST_CASE("a snapshot body kept in the read buffer is answered exactly as a chunked one read into a string") {
  daemon_under_test d;
  REQUIRE(d.port() > 0);
  raw_conn c(d.port());
  const std::string good = snapshot("same", 30);
  const std::string bodies[] = {
      good,
      R"({"gameId":"same","timestamp":"noon","events":[],"clusters":[],"humanContext":{}})",
      R"({"gameId":"same","timestamp":1,"events":[],"clusters":[],"humanContext":{"P":{"position":{"x":1}}}})",
      good.substr(0, good.size() - 1),  // truncated JSON
      "[1,2,3]",
  };
  for (const auto& body : bodies) {
    REQUIRE(c.send(post(body)));
    auto in_buffer = c.answer();
    REQUIRE(c.send(post_chunked(body)));
    auto chunked = c.answer();
    CHECK(in_buffer.status == chunked.status);
    CHECK(in_buffer.body == chunked.body);
    CHECK(in_buffer.headers == chunked.headers);
  }
  // An X-Game-Id naming another game is refused the same way on both paths.
  REQUIRE(c.send(post(good, "X-Game-Id: other\r\n")));
  auto mismatch = c.answer();
  CHECK(mismatch.status == 400);
  CHECK(mismatch.body.find("disagrees with the X-Game-Id header 'other'") != std::string::npos);
  CHECK(d.stop() == 0);
}

TEST_CASE(
    "a snapshot body that fills the read buffer to its end, with a short request after it: parsed after the padding "
    "moved it") {
  // The server makes room for the parser's padding after a body kept in its read buffer; when
  // the body and a short pipelined request fill the buffer to its last byte, that room is made
  // by moving the unread bytes to the front (Beast's flat_buffer), so the body must be read
  // where it is after that move. A served connection reads into all of its 32 KiB buffer at
  // once: one write of exactly 32 KiB (a snapshot padded with trailing whitespace, then a
  // /healthz) fills it when the kernel hands it over in one piece, which loopback does.
  daemon_under_test d;
  REQUIRE(d.port() > 0);
  raw_conn c(d.port());
  const std::string health = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(c.send(health));
  REQUIRE(c.answer().status == 200);
  constexpr std::size_t buffer_bytes = 32 * 1024;
  const std::string json = snapshot("move", 40);
  const std::size_t header_bytes = post(std::string(json.size(), ' ')).size() - json.size();
  const std::size_t body_bytes = buffer_bytes - health.size() - header_bytes;
  REQUIRE(json.size() <= body_bytes);
  REQUIRE(std::to_string(body_bytes).size() == std::to_string(json.size()).size());  // same header size
  const std::string body = json + std::string(body_bytes - json.size(), ' ');
  const std::string bytes = post(body) + health;
  REQUIRE(bytes.size() == buffer_bytes);
  for (int i = 0; i < 5; ++i) {
    REQUIRE(c.send(bytes));
    auto a = c.answer();
    CHECK(a.status == 202);
    CHECK(a.body == R"({"status":"success","gameId":"move","queue":"urgent"})");
    auto h = c.answer();
    CHECK(h.status == 200);
  }
  CHECK(d.metric("npcorch_queue_accepted_total{queue=\"urgent\"}") == 5);
  CHECK(d.stop() == 0);
}
