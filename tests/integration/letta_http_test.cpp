// letta_http against scripted loopback peers: the request timeout when a peer never answers, the
// response size cap, a pooled connection the server closed while idle (detected, dropped, the
// request goes on a fresh connection and succeeds), a connect that hangs, and name resolution
// through the resolve_fn seam (one that never completes, one that fails at once). Two io
// threads, as in the daemon.
#include <utility>

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <sys/socket.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "tests/eventually.hpp"
#include "tests/io_threads.hpp"
#include "workers/letta_http.hpp"

using namespace orch;
using namespace orch::workers;
using namespace std::chrono_literals;
using orch::testing::eventually;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// A blocking one-thread peer: accepts connections one after another and hands each to
// `script(index, socket)`. Stopped by a last connection after `stopping_` is set.
class scripted_peer {
 public:
  using script_fn = std::function<void(int, tcp::socket&)>;
  explicit scripted_peer(script_fn script) : script_(std::move(script)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { loop(); });
  }
  ~scripted_peer() {
    stopping_ = true;
    asio::io_context io;
    tcp::socket s(io);
    boost::system::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
    thread_.join();
  }
  unsigned short port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  void loop() {
    for (int i = 0;; ++i) {
      tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stopping_) return;
      ++accepted_;
      script_(i, s);
    }
  }
  script_fn script_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_, {asio::ip::make_address("127.0.0.1"), 0}};
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

bool read_request(tcp::socket& s, beast::flat_buffer& buf) {
  http::request<http::string_body> rq;
  boost::system::error_code ec;
  http::read(s, buf, rq, ec);
  return !ec;
}

void answer(tcp::socket& s, const std::string& body, bool keep_alive = true) {
  http::response<http::string_body> r{http::status::ok, 11};
  r.set(http::field::content_type, "application/json");
  r.keep_alive(keep_alive);
  r.body() = body;
  r.prepare_payload();
  http::write(s, r);
}

// Blocks until the client closes its end (EOF or reset).
void wait_for_close(tcp::socket& s) {
  char c[256];
  boost::system::error_code ec;
  while (!ec) s.read_some(asio::buffer(c), ec);
}

using orch::testing::io_threads;

transport_response call(letta_http& client, const std::string& method, const std::string& target,
                        const std::string& body = {}) {
  std::promise<transport_response> p;
  transport_request rq;
  rq.method = method;
  rq.target = target;
  rq.body = body;
  client.execute(std::move(rq), [&p](transport_response r) { p.set_value(std::move(r)); });
  auto f = p.get_future();
  REQUIRE(f.wait_for(30s) == std::future_status::ready);
  return f.get();
}

letta_options options(unsigned short port) {
  letta_options o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port);
  o.timeout = 300ms;
  o.connect_timeout = 2000ms;
  return o;
}

}  // namespace

TEST_CASE("letta_http: a peer that accepts and never answers hits the request timeout, sent once") {
  std::atomic<int> requests{0};
  std::atomic<bool> client_closed{false};
  scripted_peer peer([&](int, tcp::socket& s) {
    beast::flat_buffer buf;
    if (read_request(s, buf)) ++requests;
    wait_for_close(s);  // never answers
    client_closed = true;
  });
  metrics::registry metrics;
  io_threads pool(2);
  auto client = std::make_shared<letta_http>(pool.io, options(peer.port()), &metrics);
  const auto r = call(*client, "POST", "/v1/agents/a/messages", R"({"messages":[]})");
  CHECK(r.status == 0);
  CHECK(r.error == "timeout");
  REQUIRE(eventually([&] { return client_closed.load(); }));  // the timed-out connection is closed
  CHECK(requests == 1);
  CHECK(peer.accepted() == 1);
}

TEST_CASE("letta_http: an answer above max_response_bytes fails cleanly, counted, connection dropped") {
  std::atomic<bool> dropped{false};
  scripted_peer peer([&](int i, tcp::socket& s) {
    beast::flat_buffer buf;
    if (!read_request(s, buf)) return;
    if (i == 0) {
      answer(s, "\"" + std::string(4096, 'x') + "\"");
      wait_for_close(s);
      dropped = true;
    } else {
      answer(s, R"({"ok":true})");
      wait_for_close(s);
    }
  });
  metrics::registry metrics;
  io_threads pool(2);
  auto o = options(peer.port());
  o.max_response_bytes = 1024;
  auto client = std::make_shared<letta_http>(pool.io, o, &metrics);
  const auto r = call(*client, "GET", "/v1/agents/a");
  CHECK(r.status == 0);
  CHECK(r.error == "too_large");
  CHECK(metrics.value("npcorch_letta_responses_too_large_total") == 1);
  REQUIRE(eventually([&] { return dropped.load(); }));
  // The next request goes on a new connection and gets its answer.
  const auto r2 = call(*client, "GET", "/v1/agents/a");
  CHECK(r2.status == 200);
  CHECK(r2.body == R"({"ok":true})");
  CHECK(peer.accepted() == 2);
}

TEST_CASE("letta_http: a pooled connection the server closed while idle does not fail the next request") {
  std::atomic<bool> closed_idle{false};
  std::atomic<int> requests{0};
  scripted_peer peer([&](int i, tcp::socket& s) {
    beast::flat_buffer buf;
    if (i == 0) {
      if (read_request(s, buf)) ++requests;
      answer(s, R"({"n":1})");  // keep-alive, then the server's idle timeout closes it
      s.shutdown(tcp::socket::shutdown_both);
      s.close();
      closed_idle = true;
      return;
    }
    while (read_request(s, buf)) {
      ++requests;
      answer(s, R"({"n":2})");
    }
  });
  metrics::registry metrics;
  io_threads pool(2);
  auto client = std::make_shared<letta_http>(pool.io, options(peer.port()), &metrics);
  const auto r1 = call(*client, "GET", "/v1/health/");
  CHECK(r1.status == 200);
  REQUIRE(eventually([&] { return closed_idle.load(); }));
  // A POST: it must not be lost to the dead connection, and must be sent exactly once.
  const auto r2 = call(*client, "POST", "/v1/agents/a/messages", R"({"messages":[]})");
  CHECK(r2.status == 200);
  CHECK(r2.body == R"({"n":2})");
  CHECK(requests == 2);
  CHECK(peer.accepted() == 2);
  CHECK(metrics.value("npcorch_letta_stale_connections_total") == 1);
  // The fresh connection is pooled and reused.
  const auto r3 = call(*client, "GET", "/v1/health/");
  CHECK(r3.status == 200);
  CHECK(peer.accepted() == 2);
}

TEST_CASE("letta_http: a connect that never completes fails at connect_timeout, nothing sent") {
  // A listener that never accepts, with a backlog of 0 filled by other connections: the
  // kernel drops further SYNs, so the client's connect hangs until its own timeout.
  asio::io_context io;
  tcp::acceptor full(io);
  full.open(tcp::v4());
  full.bind({asio::ip::make_address("127.0.0.1"), 0});
  full.listen(0);
  const auto ep = full.local_endpoint();
  std::vector<tcp::socket> fillers;
  for (int i = 0; i < 3; ++i) {
    fillers.emplace_back(io);
    fillers.back().open(tcp::v4());
    fillers.back().non_blocking(true);  // the descriptor itself: ::connect returns at once
    (void)::connect(fillers.back().native_handle(), ep.data(), static_cast<socklen_t>(ep.size()));
  }
  metrics::registry metrics;
  io_threads pool(2);
  auto o = options(ep.port());
  o.timeout = 120s;  // only the connect timeout can end the call within call()'s 30 s
  o.connect_timeout = 300ms;
  auto client = std::make_shared<letta_http>(pool.io, o, &metrics);
  const auto r = call(*client, "GET", "/v1/health/");
  CHECK(r.status == 0);
  CHECK(r.error == "timeout");  // not refused ("connection"): the connect hung and was cut
  CHECK(metrics.value("npcorch_letta_connect_failures_total", {{"stage", "connect"}, {"reason", "timeout"}}) == 1);
}

namespace {

// A resolve_fn for the tests: records what it was asked, and either answers with `target`,
// keeps the completion without calling it (hang), or fails with `error`.
struct test_resolver {
  enum class mode { answer, hang, fail, empty };
  std::mutex mu;
  mode m = mode::answer;
  tcp::endpoint target;
  std::vector<std::pair<std::string, std::string>> asked;
  std::vector<resolve_done_fn> pending;

  resolve_fn fn() {
    return [this](const std::string& host, const std::string& port, resolve_done_fn done) {
      std::unique_lock lk(mu);
      asked.emplace_back(host, port);
      switch (m) {
        case mode::answer: {
          auto ep = target;
          lk.unlock();
          return done({}, {ep});
        }
        case mode::hang:
          pending.push_back(std::move(done));
          return;
        case mode::fail:
          lk.unlock();
          return done(asio::error::host_not_found, {});
        case mode::empty:
          lk.unlock();
          return done({}, {});
      }
    };
  }
  void set(mode to) {
    std::lock_guard lk(mu);
    m = to;
  }
};

// A keep-alive peer answering every request with {"ok":true}; counts the requests.
scripted_peer answering_peer(std::atomic<int>& requests) {
  return scripted_peer([&requests](int, tcp::socket& s) {
    beast::flat_buffer buf;
    while (read_request(s, buf)) {
      ++requests;
      answer(s, R"({"ok":true})");
    }
  });
}

}  // namespace

TEST_CASE("letta_http: a name resolution that never completes fails at connect_timeout, nothing sent") {
  std::atomic<int> requests{0};
  scripted_peer peer = answering_peer(requests);
  test_resolver resolver;
  resolver.target = {asio::ip::make_address("127.0.0.1"), peer.port()};
  resolver.set(test_resolver::mode::hang);
  metrics::registry metrics;
  io_threads pool(2);
  letta_options o;
  o.base_url = "http://letta.test:8283";
  o.timeout = 120s;  // only the connect timeout can end the call within call()'s 30 s
  o.connect_timeout = 300ms;
  auto client = std::make_shared<letta_http>(pool.io, o, &metrics, resolver.fn());
  const auto r = call(*client, "POST", "/v1/agents/a/messages", R"({"messages":[]})");
  CHECK(r.status == 0);
  CHECK(r.error == "timeout");  // the same class as a connect that hangs
  CHECK(metrics.value("npcorch_letta_connect_failures_total", {{"stage", "resolve"}, {"reason", "timeout"}}) == 1);
  {
    std::lock_guard lk(resolver.mu);
    REQUIRE(resolver.asked.size() == 1);
    CHECK(resolver.asked[0] == std::pair<std::string, std::string>("letta.test", "8283"));
    REQUIRE(resolver.pending.size() == 1);
  }
  // The resolution completes after its request gave up: ignored (its request is gone).
  // (The completion holds the request's strand and timer: released here, before the io threads.)
  resolver.pending[0]({}, {resolver.target});
  resolver.pending.clear();
  // The resolver works again: the next request resolves, connects and gets its answer.
  resolver.set(test_resolver::mode::answer);
  const auto r2 = call(*client, "GET", "/v1/health/");
  CHECK(r2.status == 200);
  CHECK(r2.body == R"({"ok":true})");
  // Only the second request ever reached a server.
  CHECK(requests == 1);
  CHECK(peer.accepted() == 1);
  CHECK(metrics.value("npcorch_letta_connect_failures_total", {{"stage", "resolve"}, {"reason", "timeout"}}) == 1);
  CHECK(metrics.value("npcorch_letta_connect_failures_total", {{"stage", "connect"}, {"reason", "timeout"}}) == -1);
}

TEST_CASE("letta_http: a resolver that fails or finds nothing fails the request at once, counted") {
  std::atomic<int> requests{0};
  scripted_peer peer = answering_peer(requests);
  test_resolver resolver;
  resolver.target = {asio::ip::make_address("127.0.0.1"), peer.port()};
  metrics::registry metrics;
  io_threads pool(2);
  letta_options o;
  o.base_url = "http://letta.test:8283";
  o.timeout = 120s;
  o.connect_timeout = 120s;  // neither deadline can end a call within call()'s 30 s
  auto client = std::make_shared<letta_http>(pool.io, o, &metrics, resolver.fn());
  resolver.set(test_resolver::mode::fail);
  const auto r = call(*client, "GET", "/v1/health/");
  CHECK(r.status == 0);
  CHECK(r.error == "connection");
  resolver.set(test_resolver::mode::empty);
  const auto r2 = call(*client, "GET", "/v1/health/");
  CHECK(r2.status == 0);
  CHECK(r2.error == "connection");
  CHECK(metrics.value("npcorch_letta_connect_failures_total", {{"stage", "resolve"}, {"reason", "error"}}) == 2);
  resolver.set(test_resolver::mode::answer);
  const auto r3 = call(*client, "GET", "/v1/health/");
  CHECK(r3.status == 200);
  CHECK(requests == 1);
  CHECK(peer.accepted() == 1);
}
