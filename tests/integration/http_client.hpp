#pragma once
// Blocking HTTP and WebSocket clients for integration tests (loopback only). Each call has
// a timeout so a hung daemon fails the test instead of hanging it.
#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "tests/integration/process.hpp"

namespace orch::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

struct http_result {
  int status = 0;  // 0 = no answer (connection error)
  std::string body;
  std::map<std::string, std::string> headers;
};

// One keep-alive connection to 127.0.0.1:port.
class http_conn {
 public:
  explicit http_conn(int port, std::chrono::seconds timeout = std::chrono::seconds(20))
      : stream_(io_), timeout_(timeout) {
    stream_.expires_after(timeout_);
    stream_.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  }

  http_result request(http::verb method, const std::string& target, const std::string& body = {},
                      const std::vector<std::pair<std::string, std::string>>& headers = {},
                      const std::string& content_type = "application/json") {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!body.empty() || method == http::verb::post) {
      if (!content_type.empty()) req.set(http::field::content_type, content_type);
      req.body() = body;
    }
    for (auto& [k, v] : headers) req.set(k, v);
    req.prepare_payload();
    http_result out;
    beast::error_code ec;
    stream_.expires_after(timeout_);
    http::write(stream_, req, ec);
    if (ec) return out;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(stream_, buffer_, parser, ec);
    if (ec) return out;
    auto res = parser.release();
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    for (auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
    return out;
  }
  http_result get(const std::string& target, const std::vector<std::pair<std::string, std::string>>& h = {}) {
    return request(http::verb::get, target, {}, h, "");
  }
  http_result post(const std::string& target, const std::string& body,
                   const std::vector<std::pair<std::string, std::string>>& h = {}) {
    return request(http::verb::post, target, body, h);
  }
  // Sends raw bytes and reads one answer (for malformed requests the client cannot build).
  http_result raw(const std::string& bytes) {
    http_result out;
    beast::error_code ec;
    stream_.expires_after(timeout_);
    net::write(stream_, net::buffer(bytes), ec);
    if (ec) return out;
    http::response_parser<http::string_body> parser;
    http::read(stream_, buffer_, parser, ec);
    if (ec) return out;
    out.status = static_cast<int>(parser.get().result_int());
    out.body = parser.get().body();
    return out;
  }

 private:
  net::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::chrono::seconds timeout_;
};

// A WebSocket client of /letta/v1/ws.
class ws_client {
 public:
  // rcvbuf > 0 shrinks the client's socket receive buffer (for slow-reader tests); `headers`
  // go on the upgrade request.
  ws_client(int port, const std::string& target, bool deflate = true, int rcvbuf = 0,
            const std::vector<std::pair<std::string, std::string>>& headers = {})
      : ws_(io_) {
    auto& s = beast::get_lowest_layer(ws_);
    s.expires_after(std::chrono::seconds(10));
    if (rcvbuf > 0) {
      s.socket().open(net::ip::tcp::v4());
      s.socket().set_option(net::socket_base::receive_buffer_size(rcvbuf));
    }
    s.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    if (deflate) {
      beast::websocket::permessage_deflate pmd;
      pmd.client_enable = true;
      ws_.set_option(pmd);
    }
    if (!headers.empty())
      ws_.set_option(beast::websocket::stream_base::decorator([headers](beast::websocket::request_type& req) {
        for (const auto& [k, v] : headers) req.set(k, v);
      }));
    ws_.handshake(res_, "127.0.0.1", target);
    s.expires_never();
  }
  const beast::websocket::response_type& handshake_response() const { return res_; }
  void send(const std::string& text) { ws_.write(net::buffer(text)); }
  // Next text frame, or "" on timeout/close.
  std::string read(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    beast::flat_buffer buf;
    beast::error_code ec;
    bool done = false;
    ws_.async_read(buf, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    io_.restart();
    io_.run_for(timeout);
    if (!done) {
      beast::get_lowest_layer(ws_).cancel();
      io_.restart();
      io_.run();
      return {};
    }
    if (ec) return {};
    return beast::buffers_to_string(buf.data());
  }
  void close() {
    beast::error_code ec;
    ws_.close(beast::websocket::close_code::normal, ec);
  }
  beast::websocket::stream<beast::tcp_stream>& stream() { return ws_; }

 private:
  net::io_context io_;
  beast::websocket::stream<beast::tcp_stream> ws_;
  beast::websocket::response_type res_;
};

inline std::string read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return {};
  std::string s;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

// The value of an unlabelled-or-labelled sample in Prometheus text, or -1.
inline double metric_value(const std::string& text, const std::string& sample) {
  std::size_t pos = 0;
  while ((pos = text.find(sample, pos)) != std::string::npos) {
    const bool line_start = pos == 0 || text[pos - 1] == '\n';
    const std::size_t after = pos + sample.size();
    if (line_start && after < text.size() && text[after] == ' ') return std::stod(text.substr(after + 1));
    pos = after;
  }
  return -1;
}

// The daemon under test: started on a free port with the shipped config and the given --set
// overrides (simulated Letta unless overridden), stopped with SIGTERM at the end.
class daemon_under_test {
 public:
  explicit daemon_under_test(std::vector<std::string> sets = {},
                             std::string config = ORCH_SOURCE_DIR "/etc/npc-orchestrator.yaml") {
    std::vector<std::string> argv{
        ORCH_DAEMON_PATH, "--config", config, "--set", "server.listen=127.0.0.1:0", "--set", "letta.backend=simulated"};
    for (auto& s : sets) {
      argv.push_back("--set");
      argv.push_back(s);
    }
    proc_ = std::make_unique<child_process>(argv);
    port_ = proc_->wait_for_port(std::chrono::seconds(20));
  }
  int port() const { return port_; }
  child_process& proc() { return *proc_; }
  std::string metrics() { return http_conn(port_).get("/metrics").body; }
  double metric(const std::string& sample) { return metric_value(metrics(), sample); }
  int stop() { return proc_->stop(std::chrono::seconds(15)); }

 private:
  std::unique_ptr<child_process> proc_;
  int port_ = 0;
};

}  // namespace orch::testing
