#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include "workers/letta_http.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
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
using strand_type = asio::strand<asio::io_context::executor_type>;

// One keep-alive connection and the strand every handler touching it runs on.
struct letta_http::connection {
  explicit connection(const strand_type& s) : strand(s), stream(s) {}
  strand_type strand;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
};

http_endpoint parse_base_url(const std::string& url) {
  std::string error;
  auto u = common::parse_http_url(url, error);
  if (!u)
    throw std::invalid_argument("letta.base_url: expected http://host:port[/prefix], got '" + url + "': " + error);
  return http_endpoint{u->host, std::to_string(u->port), u->prefix(), common::format_host_port(u->host, u->port)};
}

resolve_fn asio_resolver(asio::io_context& io) {
  return [&io](const std::string& host, const std::string& port, resolve_done_fn done) {
    // The resolver lives until its completion (asio cannot abort a getaddrinfo in progress).
    auto r = std::make_shared<tcp::resolver>(io);
    r->async_resolve(host, port,
                     [r, done = std::move(done)](const beast::error_code& ec, const tcp::resolver::results_type& res) {
                       std::vector<tcp::endpoint> eps;
                       for (const auto& e : res) eps.push_back(e.endpoint());
                       done(ec, std::move(eps));
                     });
  };
}

letta_http::letta_http(asio::io_context& io, const letta_options& opts, metrics::registry* metrics, resolve_fn resolve)
    : io_(io),
      ep_(parse_base_url(opts.base_url)),
      token_(opts.token),
      timeout_(opts.timeout),
      connect_timeout_(opts.connect_timeout),
      max_response_bytes_(opts.max_response_bytes),
      max_idle_(std::max<std::size_t>(1, opts.max_in_flight)),
      metrics_(metrics),
      resolve_(resolve ? std::move(resolve) : asio_resolver(io)) {}

letta_http::~letta_http() = default;

void letta_http::count(const char* name, const char* help) {
  if (metrics_) metrics_->get_counter(name, help).inc();
}

void letta_http::count_connect_failure(const char* stage, const boost::system::error_code& ec) {
  if (!metrics_) return;
  metrics_
      ->get_counter("npcorch_letta_connect_failures_total",
                    "Letta connections not made, by stage (resolve, connect) and reason (timeout, error)",
                    {{"stage", stage}, {"reason", ec == beast::error::timeout ? "timeout" : "error"}})
      .inc();
}

namespace {

transport_response fail(const beast::error_code& ec) {
  transport_response r;
  if (ec == beast::error::timeout)
    r.error = "timeout";
  else if (ec == http::error::body_limit || ec == http::error::header_limit)
    r.error = "too_large";
  else
    r.error = "connection";
  return r;
}

// True when an idle keep-alive socket can no longer carry a request: the server closed it (EOF),
// reset it, or sent bytes nobody asked for. A non-blocking peek; the socket has no operation
// pending while it is idle.
bool unusable(tcp::socket& s) {
  if (!s.is_open()) return true;
  char c = 0;
  const auto n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n >= 0) return true;  // 0: EOF; > 0: unsolicited bytes
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

bool idempotent(const std::string& method) { return method == "GET" || method == "PATCH" || method == "PUT"; }

}  // namespace

std::shared_ptr<letta_http::connection> letta_http::take_idle() {
  for (;;) {
    std::shared_ptr<connection> c;
    {
      std::lock_guard lk(mu_);
      if (idle_.empty()) return nullptr;
      c = std::move(idle_.back());
      idle_.pop_back();
    }
    if (!unusable(c->stream.socket())) return c;
    count("npcorch_letta_stale_connections_total", "Pooled Letta connections found closed by the server and dropped");
    // Closed and destroyed on its own strand, after any handler still queued there.
    asio::post(c->strand, [c] { c->stream.close(); });
  }
}

// GCC 12 reports -Wmismatched-new-delete inside Asio's coroutine frames (awaitable_frame_base
// pairs its own operator new and sized operator delete; GCC sees the library's recycling
// allocator through the inlined frame): a false positive, silenced for these coroutines only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
struct letta_http::impl {
  // Resolves and connects within connect_timeout. The resolution completes into shared state on
  // the connection's strand, so a hanging resolver cannot hold the request past the deadline and
  // its late completion finds the request gone (ignored).
  static asio::awaitable<void> connect(std::shared_ptr<letta_http> self, connection& c, beast::error_code& ec) {
    const auto deadline = std::chrono::steady_clock::now() + self->connect_timeout_;
    struct resolve_state {
      explicit resolve_state(const strand_type& s) : wake(s) {}
      asio::steady_timer wake;
      std::vector<tcp::endpoint> endpoints;
      beast::error_code ec;
      bool done = false;
    };
    auto st = std::make_shared<resolve_state>(c.strand);
    st->wake.expires_at(deadline);
    self->resolve_(self->ep_.host, self->ep_.port,
                   [st, strand = c.strand](beast::error_code e, std::vector<tcp::endpoint> eps) {
                     asio::dispatch(strand, [st, e, eps = std::move(eps)]() mutable {
                       if (st->done) return;  // a resolver calling twice
                       st->done = true;
                       st->ec = e;
                       st->endpoints = std::move(eps);
                       st->wake.cancel();
                     });
                   });
    // A resolver that completes inline has already set `done` (dispatch runs on this strand).
    beast::error_code wait_ec;
    if (!st->done) co_await st->wake.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
    if (!st->done) {
      st->done = true;  // a late completion is ignored
      ec = beast::error::timeout;
    } else if (st->ec) {
      ec = st->ec;
    } else if (st->endpoints.empty()) {
      ec = asio::error::host_not_found;
    }
    if (ec) {
      self->count_connect_failure("resolve", ec);
      co_return;
    }
    c.stream.expires_at(deadline);
    co_await c.stream.async_connect(st->endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) self->count_connect_failure("connect", ec);
  }

  static http::request<http::string_body> make_request(const letta_http& self, const transport_request& req) {
    http::request<http::string_body> rq{http::string_to_verb(req.method), self.ep_.prefix + req.target, 11};
    rq.set(http::field::host, self.ep_.authority);
    rq.set(http::field::user_agent, "npc-orchestrator");
    rq.set(http::field::accept, "application/json");
    if (!self.token_.empty()) rq.set(http::field::authorization, "Bearer " + self.token_);
    if (!req.body.empty() || req.method != "GET") {
      rq.set(http::field::content_type, "application/json");
      rq.body() = req.body;
    }
    rq.keep_alive(true);
    rq.prepare_payload();
    return rq;
  }

  // One request to its end: the answer (or the error) goes to `cb` on the strand.
  static asio::awaitable<void> request(std::shared_ptr<letta_http> self, transport_request req,
                                       std::shared_ptr<connection> conn, strand_type strand, response_fn cb) {
    transport_response r;
    try {
      r = co_await run(std::move(self), std::move(req), std::move(conn), strand);
    } catch (const std::exception&) {
      r = transport_response{};
      r.error = "connection";
    }
    cb(std::move(r));
  }

  // Runs on `strand`, which is conn's strand when a pooled connection was handed over.
  static asio::awaitable<transport_response> run(std::shared_ptr<letta_http> self, transport_request req,
                                                 std::shared_ptr<connection> conn, strand_type strand) {
    const auto rq = make_request(*self, req);
    for (int round = 0; round < 2; ++round) {
      const bool reused = conn != nullptr;
      beast::error_code ec;
      if (!conn) {
        conn = std::make_shared<connection>(strand);
        co_await connect(self, *conn, ec);
        if (ec) co_return fail(ec);
      }

      conn->stream.expires_after(self->timeout_);
      const auto sent_at = std::chrono::steady_clock::now();
      co_await http::async_write(conn->stream, rq, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (reused && ec != beast::error::timeout) {  // a stale pooled connection: nothing was taken
          conn.reset();
          self->count("npcorch_letta_http_resends_total", "Letta requests sent again on a fresh connection");
          continue;
        }
        co_return fail(ec);
      }
      http::response_parser<http::string_body> parser;
      parser.body_limit(self->max_response_bytes_);
      conn->buffer.clear();
      // The header first: Beast 1.74 loses a Content-Length above body_limit when the parser
      // runs eagerly (as async_read makes it), so the length is checked here before the body.
      co_await http::async_read_header(conn->stream, conn->buffer, parser,
                                       asio::redirect_error(asio::use_awaitable, ec));
      if (!ec && parser.content_length() && *parser.content_length() > self->max_response_bytes_)
        ec = http::error::body_limit;
      if (!ec && !parser.is_done())
        co_await http::async_read(conn->stream, conn->buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec && parser.get().body().size() > self->max_response_bytes_) ec = http::error::body_limit;
      if (ec) {
        const bool nothing_read = !parser.got_some();
        // A read that ended at the request's expiry is a timeout, whatever error the closed
        // socket reported: the server may be running it, so it is never resent here (the
        // discipline looks for a message's otid before it resends).
        if (ec != beast::error::timeout && std::chrono::steady_clock::now() - sent_at >= self->timeout_)
          ec = beast::error::timeout;
        // A pooled connection that ended before any answer: an idempotent request goes again on
        // a fresh one; a POST may have landed and is left to the discipline.
        if (reused && nothing_read && ec != beast::error::timeout && idempotent(req.method)) {
          conn.reset();
          self->count("npcorch_letta_http_resends_total", "Letta requests sent again on a fresh connection");
          continue;
        }
        if (ec == http::error::body_limit || ec == http::error::header_limit)
          self->count("npcorch_letta_responses_too_large_total",
                      "Letta answers above letta.max_response_bytes (connection dropped)");
        conn->stream.close();
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
#pragma GCC diagnostic pop

void letta_http::execute(transport_request req, response_fn cb) {
  auto conn = take_idle();
  const strand_type strand = conn ? conn->strand : asio::make_strand(io_);
  asio::co_spawn(strand, impl::request(shared_from_this(), std::move(req), std::move(conn), strand, std::move(cb)),
                 asio::detached);
}

}  // namespace orch::workers
