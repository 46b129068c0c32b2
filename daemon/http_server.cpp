#include "daemon/http_server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <stdexcept>

#include "daemon/json_codec.hpp"
#include "daemon/session_state.hpp"
#include "daemon/ws_session.hpp"

namespace orch::daemon {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Initial capacity of a connection's read buffer (it grows for larger bodies and stays).
constexpr std::size_t read_buffer_bytes = 32 * 1024;

class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(tcp::socket&& socket, std::shared_ptr<http_server::shared_state> state)
      : stream_(std::move(socket)), state_(std::move(state)) {
    // Room for a ~30 KB snapshot and its headers: Beast reads up to the free capacity
    // per call, so one or two reads per request instead of growing from 512 bytes.
    buffer_.reserve(read_buffer_bytes);
  }

  ~http_session() {
    if (!upgraded_) {
      state_->connections.add(-1);
      state_->open.fetch_sub(1);
    }
  }

  void run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&http_session::do_read, shared_from_this()));
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(state_->opts.max_body_bytes);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(state_->opts.read_timeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&http_session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream) return do_close();
    if (ec == beast::error::timeout) {
      state_->timeouts.inc();
      return do_close();
    }
    if (ec == http::error::body_limit) {
      return send(json_response(413, error_body("too_large", "body: larger than server.max_body_bytes (" +
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
    if (beast::websocket::is_upgrade(req)) {
      std::string game;
      std::uint64_t since = 0;
      auto refusal = state_->rt.check_ws_upgrade(req, game, since);
      if (refusal) return send(std::move(*refusal));
      upgraded_ = true;  // the ws_session takes over the connection's accounting
      stream_.expires_never();
      std::make_shared<ws_session>(stream_.release_socket(), state_, std::move(game), since)->run(std::move(req));
      return;
    }
    const bool ka = req.keep_alive() && !state_->stopping.load();
    auto self = shared_from_this();
    stream_.expires_never();  // a long-poll may legitimately take a while
    state_->rt.handle(std::move(req), stream_.get_executor(), [self, ka](http_response res) {
      // The router may answer from another thread (a timer, a publisher): hop to our strand.
      net::dispatch(self->stream_.get_executor(), [self, ka, res = std::move(res)]() mutable {
        if (!ka) res.keep_alive(false);
        self->send(std::move(res));
      });
    });
  }

  void send(http_response res) {
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

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http_server::shared_state> state_;
  bool upgraded_ = false;
};

void do_accept(const std::shared_ptr<tcp::acceptor>& acceptor, net::io_context& io,
               const std::shared_ptr<http_server::shared_state>& state) {
  acceptor->async_accept(net::make_strand(io), [acceptor, &io, state](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
    if (!ec) {
      if (state->open.load() >= state->opts.max_connections) {
        state->connections_refused.inc();
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        state->open.fetch_add(1);
        state->connections.add(1);
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<http_session>(std::move(socket), state)->run();
      }
    }
    do_accept(acceptor, io, state);
  });
}

}  // namespace

http_server::http_server(net::io_context& io, router& r, const server_options& opts, queues::registry& metrics)
    : io_(io), router_(r), opts_(opts), state_(std::make_shared<shared_state>(r, opts, metrics)) {}

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
  if (ec) throw std::runtime_error("cannot listen on " + opts_.host + ":" + std::to_string(opts_.port) + ": " + ec.message());
  port_ = acceptor_->local_endpoint().port();
  do_accept(acceptor_, io_, state_);
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
