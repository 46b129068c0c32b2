#include "daemon/http_server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "daemon/http_server_state.hpp"
#include "daemon/json_codec.hpp"
#include "daemon/snapshot_reader.hpp"
#include "daemon/ws_session.hpp"

namespace orch::daemon {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// A connection's stream runs on its own strand, named by its concrete type: Beast's async
// operations ask their stream's executor for outstanding work on every step, and through a
// type-erased executor (beast::tcp_stream's any_io_executor) each such ask allocated a copy of
// the strand: ~18 allocations per snapshot request.
using session_executor = net::strand<net::io_context::executor_type>;
using session_stream = beast::basic_stream<tcp, session_executor>;
using session_socket = session_stream::socket_type;

// Initial capacity of a connection's read buffer (it grows for larger bodies and stays).
constexpr std::size_t read_buffer_bytes = 32 * 1024;
// Largest read buffer a connection keeps between requests (see do_read).
constexpr std::size_t kept_buffer_bytes = 256 * 1024;

class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(session_socket&& socket, net::ip::address addr, std::shared_ptr<http_server::shared_state> state)
      : stream_(std::move(socket)), addr_(addr), state_(std::move(state)) {
    // Room for a ~30 KB snapshot and its headers: Beast reads up to the free capacity
    // per call, so one or two reads per request instead of growing from 512 bytes.
    buffer_.reserve(read_buffer_bytes);
  }

  ~http_session() {
    if (!upgraded_) {
      state_->connections.add(-1);
      state_->open.fetch_sub(1);
      state_->give(addr_);
    }
  }

  void run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&http_session::do_read, shared_from_this()));
  }

 private:
  // Two phases per request: the headers within server.header_timeout_ms, then — only when
  // the router accepts them (auth, route, method) — the body within server.read_timeout_ms.
  void do_read() {
    parser_.emplace();
    parser_->body_limit(state_->opts.max_body_bytes);
    parser_->header_limit(16 * 1024);
    // A keep-alive connection waiting for its next request idles on read_timeout; a new
    // connection's first request, and any request once its first byte is in, must have its
    // headers complete within header_timeout.
    if (body_in_buffer_ > 0) {
      buffer_.consume(body_in_buffer_);  // the previous snapshot's body (read_snapshot_body)
      body_in_buffer_ = 0;
      // A buffer grown for an unusually large body is given back (10 000 connections each
      // keeping its largest snapshot would add up); one sized for the usual ~50 KB stays.
      if (buffer_.capacity() > kept_buffer_bytes) {
        buffer_.shrink_to_fit();
        buffer_.reserve(read_buffer_bytes);
      }
    }
    const bool idle_wait = served_ && buffer_.size() == 0;
    stream_.expires_after(idle_wait ? state_->opts.read_timeout : state_->opts.header_timeout);
    if (idle_wait) {
      // All the free capacity: a whole request that has arrived comes in with one read.
      const std::size_t room = std::max<std::size_t>(4096, buffer_.capacity());
      stream_.async_read_some(buffer_.prepare(room), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
        if (ec) return self->on_read(ec, 0);
        self->buffer_.commit(n);
        self->stream_.expires_after(self->state_->opts.header_timeout);
        self->read_header();
      });
      return;
    }
    read_header();
  }

  void read_header() {
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&http_session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec == beast::error::timeout) {
      state_->header_timeouts.inc();
      state_->timeouts.inc();
      return do_close();
    }
    if (ec) return on_read(ec, 0);
    if (auto refusal = state_->rt.check_headers(parser_->get())) {
      // Answered from the headers alone; a body (if any) is never read, so the connection
      // is then closed.
      state_->refused_before_body.inc();
      if (!parser_->is_done()) refusal->keep_alive(false);
      return send(std::move(*refusal));
    }
    const auto len = parser_->content_length();
    stream_.expires_after(state_->opts.read_timeout);
    if (len && *len > 0 && *len <= state_->opts.max_body_bytes && !parser_->chunked() &&
        router::is_snapshot_route(parser_->get().target()))
      return read_snapshot_body(static_cast<std::size_t>(*len));
    // Room for the body and the snapshot reader's padding after it, so that the body is
    // parsed where it was read (daemon/snapshot_reader.hpp); Beast's own reserve then keeps it.
    if (len && *len <= state_->opts.max_body_bytes)
      parser_->get().body().reserve(static_cast<std::size_t>(*len) + snapshot_body_padding);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&http_session::on_read, shared_from_this()));
  }

  // A snapshot's body (Content-Length, no chunks) stays in buffer_, where it is parsed in
  // place: no copy into a string body (which Beast zero-fills first), no allocation per
  // request, and reads as large as the buffer's free capacity. The buffer grows to the
  // largest snapshot plus padding and keeps that size (up to kept_buffer_bytes). The body is
  // consumed from buffer_ when the next request is read. Errors as Beast reports them: EOF
  // before the end of the body is a partial message (400), a timeout closes.
  void read_snapshot_body(std::size_t len) {
    if (buffer_.size() >= len) return on_snapshot_body(len);
    const std::size_t need = len - buffer_.size() + snapshot_body_padding;
    const std::size_t room = std::max(need, buffer_.capacity() - buffer_.size());
    stream_.async_read_some(buffer_.prepare(room),
                            [self = shared_from_this(), len](beast::error_code ec, std::size_t n) {
                              if (ec == net::error::eof) return self->on_read(http::error::partial_message, 0);
                              if (ec) return self->on_read(ec, 0);
                              self->buffer_.commit(n);
                              self->read_snapshot_body(len);
                            });
  }

  void on_snapshot_body(std::size_t len) {
    // snapshot_body_padding allocated bytes after the body (pipelined bytes may already be
    // there); prepare() may move the data, so the view is taken after it.
    if (const std::size_t after = buffer_.size() - len; after < snapshot_body_padding)
      buffer_.prepare(snapshot_body_padding - after);
    const std::string_view body(static_cast<const char*>(buffer_.data().data()), len);
    body_in_buffer_ = len;
    dispatch_request(parser_->release(), body);
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == net::error::eof) return do_close();
    if (ec == beast::error::timeout) {
      state_->timeouts.inc();
      return do_close();
    }
    if (ec == http::error::body_limit) {
      return send(json_response(413,
                                error_body("too_large", "body: larger than server.max_body_bytes (" +
                                                            std::to_string(state_->opts.max_body_bytes) + ")"),
                                11, false));
    }
    if (ec == http::error::header_limit) {
      return send(json_response(431, error_body("headers_too_large", "headers: larger than 16 KiB"), 11, false));
    }
    if (ec) {
      // A malformed request line, header or chunk: answer 400 when the socket still works.
      if (ec.category() == http::make_error_code(http::error::bad_method).category())
        return send(json_response(400, error_body("bad_request", std::string("http: ") + ec.message()), 11, false));
      return do_close();
    }
    auto req = parser_->release();
    if (beast::websocket::is_upgrade(req) && router::is_ws_route(req.target())) {
      std::string game;
      std::uint64_t since = 0;
      auto refusal = state_->rt.check_ws_upgrade(req, game, since);
      if (refusal) return send(std::move(*refusal));
      upgraded_ = true;  // the ws_session takes over the connection's accounting
      stream_.expires_never();
      auto ws = std::make_shared<ws_session>(stream_.release_socket(), addr_, state_, std::move(game), since);
      state_->add_ws(ws);
      ws->run(std::move(req));
      return;
    }
    dispatch_request(std::move(req), std::nullopt);
  }

  // Hands a request to the router; `snapshot_body` is the body when read_snapshot_body kept it
  // in buffer_ (the request's own body is then empty).
  void dispatch_request(http_request&& req, std::optional<std::string_view> snapshot_body) {
    const bool ka = req.keep_alive() && !state_->stopping.load();
    auto self = shared_from_this();
    stream_.expires_never();  // a long-poll may legitimately take a while
    state_->in_flight.fetch_add(1);
    auto respond = [self, ka](http_response res) {
      // The router may answer from another thread (a timer, a publisher): hop to our strand.
      net::dispatch(self->stream_.get_executor(), [self, ka, res = std::move(res)]() mutable {
        self->state_->in_flight.fetch_sub(1);
        if (!ka) res.keep_alive(false);
        self->send(std::move(res));
      });
    };
    if (!snapshot_body) return state_->rt.handle(std::move(req), stream_.get_executor(), std::move(respond));
    // The usual answer, 202 to a keep-alive HTTP/1.1 request, comes back as its bytes.
    accepted_bytes_.clear();
    state_->rt.handle_snapshot(req, *snapshot_body, snapshot_body_padding, std::move(respond),
                               ka ? &accepted_bytes_ : nullptr);
    if (accepted_bytes_.empty()) return;  // answered through respond
    state_->in_flight.fetch_sub(1);
    served_ = true;
    state_->requests.inc();
    stream_.expires_after(state_->opts.read_timeout);
    net::async_write(stream_, net::buffer(accepted_bytes_), [self](beast::error_code ec, std::size_t) {
      if (!ec) self->do_read();
    });
  }

  void send(http_response res) {
    served_ = true;
    state_->requests.inc();
    auto sp = std::make_shared<http_response>(std::move(res));
    stream_.expires_after(state_->opts.read_timeout);
    http::async_write(stream_, *sp, [self = shared_from_this(), sp](beast::error_code ec, std::size_t) {
      if (ec) return;
      if (!sp->keep_alive()) return self->do_close();
      self->do_read();
    });
  }

  void do_close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  session_stream stream_;
  net::ip::address addr_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http_server::shared_state> state_;
  bool upgraded_ = false;
  bool served_ = false;             // a request was answered: the next one may idle on read_timeout
  std::size_t body_in_buffer_ = 0;  // a snapshot body at the front of buffer_, consumed by do_read
  std::string accepted_bytes_;      // a pre-rendered 202 being written (capacity reused)
};

void do_accept(const std::shared_ptr<tcp::acceptor>& acceptor, net::io_context& io,
               const std::shared_ptr<http_server::shared_state>& state) {
  acceptor->async_accept(net::make_strand(io), [acceptor, &io, state](beast::error_code ec, session_socket socket) {
    if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
    if (ec) {
      // EMFILE/ENFILE/ENOBUFS and the like: retrying at once would spin. Back off a little;
      // connections closing meanwhile free what is missing.
      state->accept_errors.inc();
      auto timer = std::make_shared<net::steady_timer>(acceptor->get_executor());
      timer->expires_after(std::chrono::milliseconds(50));
      timer->async_wait([timer, acceptor, &io, state](beast::error_code) { do_accept(acceptor, io, state); });
      return;
    }
    beast::error_code ep_ec;
    const auto addr = socket.remote_endpoint(ep_ec).address();
    if (ep_ec) {
      beast::error_code ignored;
      socket.close(ignored);
    } else if (state->open.load() >= state->opts.max_connections) {
      state->connections_refused.inc();
      beast::error_code ignored;
      socket.close(ignored);
    } else if (!state->take(addr)) {
      state->per_ip_refused.inc();
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      state->open.fetch_add(1);
      state->connections.add(1);
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<http_session>(std::move(socket), addr, state)->run();
    }
    do_accept(acceptor, io, state);
  });
}

}  // namespace

http_server::http_server(net::io_context& io, router& r, const server_options& opts, metrics::registry& metrics)
    : io_(io), opts_(opts), state_(std::make_shared<shared_state>(r, opts, metrics)) {}

http_server::~http_server() { stop(); }

void http_server::start() {
  beast::error_code ec;
  auto addr = net::ip::make_address(opts_.host, ec);
  if (ec) throw std::runtime_error("server.listen: " + opts_.host + " is not an IP address");
  tcp::endpoint ep{addr, opts_.port};
  acceptor_ = std::make_shared<tcp::acceptor>(net::make_strand(io_));
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error("cannot listen on " + opts_.host + ":" + std::to_string(opts_.port) + ": " + ec.message());
  port_ = acceptor_->local_endpoint().port();
  do_accept(acceptor_, io_, state_);
}

void http_server::close_websockets() {
  for (auto& ws : state_->live_ws()) ws->close_going_away();
}

std::uint32_t http_server::open_connections() const {
  // Idle keep-alive connections do not count: nothing is owed to them.
  return static_cast<std::uint32_t>(state_->live_ws().size()) +
         static_cast<std::uint32_t>(std::max<std::int32_t>(0, state_->in_flight.load()));
}

void http_server::stop() {
  state_->stopping = true;
  if (acceptor_) {
    auto a = acceptor_;
    net::dispatch(a->get_executor(), [a] {
      beast::error_code ignored;
      a->close(ignored);
    });
  }
}

}  // namespace orch::daemon
