#include "tools/npc-flood/http_connection.hpp"

#include <boost/asio/error.hpp>

namespace orch::tools {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
// Responses are small except /metrics; anything past this is a broken server.
constexpr std::uint64_t response_body_limit = 64ull * 1024 * 1024;
}  // namespace

http_connection::http_connection(asio::io_context& io, tcp::endpoint ep, std::string host,
                                 std::chrono::milliseconds timeout)
    : stream_(io), ep_(ep), host_(std::move(host)), default_timeout_(timeout) {}

void http_connection::send(const raw_request& r, callback cb, std::chrono::milliseconds timeout) {
  busy_ = true;
  retried_ = false;
  cb_ = std::move(cb);
  timeout_ = timeout.count() > 0 ? timeout : default_timeout_;
  req_ = {};
  req_.version(11);
  req_.method_string(r.method);
  req_.target(r.target);
  req_.set(http::field::host, host_);
  req_.set(http::field::user_agent, "npc-flood");
  if (!r.content_type.empty()) req_.set(http::field::content_type, r.content_type);
  if (!r.game_id.empty()) req_.set("X-Game-Id", r.game_id);
  req_.keep_alive(true);
  if (!r.body.empty() || r.method == "POST") {
    req_.body() = r.body;
    req_.prepare_payload();
  }
  start_ = std::chrono::steady_clock::now();
  start();
}

void http_connection::start() {
  write_failed_ = false;
  reused_ = connected_;
  stream_.expires_after(timeout_);
  if (connected_) {
    on_connect({});
    return;
  }
  stream_.async_connect(ep_, [self = shared_from_this()](beast::error_code ec) { self->on_connect(ec); });
}

void http_connection::on_connect(beast::error_code ec) {
  if (ec) return fail(ec);
  connected_ = true;
  http::async_write(stream_, req_,
                    [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_write(e); });
}

void http_connection::on_write(beast::error_code ec) {
  if (ec) {
    // A server may answer an oversized body (413) and close before reading it all: read what
    // it said before calling the exchange failed. Timeouts are final.
    if (ec == beast::error::timeout || ec == asio::error::operation_aborted) return fail(ec);
    write_failed_ = true;
  }
  parser_.emplace();
  parser_->body_limit(response_body_limit);
  http::async_read(stream_, buf_, *parser_,
                   [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_read(e); });
}

void http_connection::on_read(beast::error_code ec) {
  if (ec) return fail(ec);
  auto& res = parser_->get();
  http_result r;
  r.status = static_cast<int>(res.result_int());
  r.body = std::move(res.body());
  if (auto it = res.find(http::field::retry_after); it != res.end()) r.retry_after = std::string(it->value());
  r.write_failed = write_failed_;
  if (!res.keep_alive() || write_failed_) close();
  finish(std::move(r));
}

void http_connection::fail(beast::error_code ec) {
  const bool stale_keepalive = reused_ && !retried_ && !write_failed_ &&
                               (ec == http::error::end_of_stream || ec == asio::error::eof ||
                                ec == asio::error::connection_reset || ec == asio::error::broken_pipe);
  close();
  if (stale_keepalive) {
    retried_ = true;
    start();
    return;
  }
  http_result r;
  r.ec = ec;
  r.write_failed = write_failed_;
  finish(std::move(r));
}

void http_connection::finish(http_result r) {
  r.latency_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  stream_.expires_never();
  busy_ = false;
  parser_.reset();
  auto cb = std::move(cb_);
  cb_ = nullptr;
  if (cb) cb(std::move(r));
}

void http_connection::close() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
  connected_ = false;
  buf_.clear();
}

http_pool::http_pool(asio::io_context& io, tcp::endpoint ep, std::string host, int size,
                     std::chrono::milliseconds timeout) {
  for (int i = 0; i < size; ++i) conns_.push_back(std::make_shared<http_connection>(io, ep, host, timeout));
}

bool http_pool::try_send(const raw_request& r, http_connection::callback cb) {
  // Round-robin from the last pick spreads load over connections instead of reusing one.
  for (std::size_t n = 0; n < conns_.size(); ++n) {
    auto& c = conns_[(next_ + n) % conns_.size()];
    if (!c->busy()) {
      next_ = (next_ + n + 1) % conns_.size();
      c->send(r, std::move(cb));
      return true;
    }
  }
  return false;
}

std::size_t http_pool::busy_count() const {
  std::size_t n = 0;
  for (const auto& c : conns_) n += c->busy() ? 1 : 0;
  return n;
}

void http_pool::close_all() {
  for (auto& c : conns_) c->close();
}

}  // namespace orch::tools
