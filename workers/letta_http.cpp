#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include "workers/letta_http.hpp"

#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/address.hpp"
#include "policies/retry_backoff.hpp"

namespace orch::workers {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct letta_http::connection {
  explicit connection(asio::io_context& io) : stream(io) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
};

http_endpoint parse_base_url(const std::string& url) {
  std::string error;
  auto u = common::parse_http_url(url, error);
  if (!u) throw std::invalid_argument("letta.base_url: expected http://host:port[/prefix], got '" + url + "': " + error);
  return http_endpoint{u->host, std::to_string(u->port), u->prefix()};
}

letta_http::letta_http(asio::io_context& io, const letta_options& opts)
    : io_(io),
      ep_(parse_base_url(opts.base_url)),
      token_(opts.token),
      timeout_(opts.timeout),
      max_idle_(std::max<std::size_t>(1, opts.max_in_flight)) {}

letta_http::~letta_http() = default;

namespace {

transport_response fail(const beast::error_code& ec) {
  transport_response r;
  if (ec == beast::error::timeout) r.error = "timeout";
  else if (ec == http::error::body_limit || ec == http::error::header_limit) r.error = "too_large";
  else r.error = "connection";
  return r;
}

}  // namespace

struct letta_http::impl {
  static asio::awaitable<transport_response> run(std::shared_ptr<letta_http> self, transport_request req) {
    for (int round = 0; round < 2; ++round) {
      std::unique_ptr<connection> conn;
      {
        std::lock_guard lk(self->mu_);
        if (!self->idle_.empty()) {
          conn = std::move(self->idle_.back());
          self->idle_.pop_back();
        }
      }
      const bool reused = conn != nullptr;
      beast::error_code ec;
      if (!conn) {
        conn = std::make_unique<connection>(self->io_);
        tcp::resolver resolver(self->io_);
        auto results = co_await resolver.async_resolve(self->ep_.host, self->ep_.port,
                                                       asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return fail(ec);
        conn->stream.expires_after(self->timeout_);
        co_await conn->stream.async_connect(results, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return fail(ec);
      }

      http::request<http::string_body> rq{http::string_to_verb(req.method), self->ep_.prefix + req.target, 11};
      rq.set(http::field::host, self->ep_.host + ":" + self->ep_.port);
      rq.set(http::field::user_agent, "npc-orchestrator");
      rq.set(http::field::accept, "application/json");
      if (!self->token_.empty()) rq.set(http::field::authorization, "Bearer " + self->token_);
      if (!req.body.empty() || req.method != "GET") {
        rq.set(http::field::content_type, "application/json");
        rq.body() = req.body;
      }
      rq.keep_alive(true);
      rq.prepare_payload();

      conn->stream.expires_after(self->timeout_);
      const auto sent_at = std::chrono::steady_clock::now();
      co_await http::async_write(conn->stream, rq, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (reused && ec != beast::error::timeout) continue;  // stale keep-alive connection
        co_return fail(ec);
      }
      http::response_parser<http::string_body> parser;
      parser.body_limit(max_body_bytes);
      conn->buffer.clear();
      co_await http::async_read(conn->stream, conn->buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        const bool nothing_read = !parser.got_some();
        // A read that ended at the request's expiry is a timeout, whatever error the closed
        // socket reported: the server may be running it, so it is never resent here (the
        // discipline looks for a message's otid before it resends).
        if (ec != beast::error::timeout && std::chrono::steady_clock::now() - sent_at >= self->timeout_)
          ec = beast::error::timeout;
        if (reused && nothing_read && ec != beast::error::timeout) continue;  // stale keep-alive connection
        co_return fail(ec);
      }
      auto res = parser.release();
      transport_response out;
      out.status = static_cast<int>(res.result_int());
      if (auto it = res.find(http::field::retry_after); it != res.end()) {
        if (auto d = policies::parse_retry_after(it->value()))
          out.retry_after = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
      }
      out.body = std::move(res.body());
      if (res.keep_alive()) {
        conn->stream.expires_never();
        std::lock_guard lk(self->mu_);
        if (self->idle_.size() < self->max_idle_) self->idle_.push_back(std::move(conn));
      }
      co_return out;
    }
    transport_response r;
    r.error = "connection";
    co_return r;
  }
};

void letta_http::execute(transport_request req, response_fn cb) {
  auto self = shared_from_this();
  asio::co_spawn(
      io_,
      [self, req = std::move(req), cb = std::move(cb)]() mutable -> asio::awaitable<void> {
        transport_response r;
        try {
          r = co_await impl::run(self, std::move(req));
        } catch (const std::exception&) {
          r = transport_response{};
          r.error = "connection";
        }
        cb(std::move(r));
      },
      asio::detached);
}

}  // namespace orch::workers
