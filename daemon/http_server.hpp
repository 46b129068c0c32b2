#pragma once
// The listener and the HTTP sessions (Boost.Beast). Each connection runs on its own strand:
// read a request (header limit, body limit, read timeout), hand it to the router, write the
// answer, read the next. Requests are answered one at a time per connection, in order: a
// client's pipelined requests wait in the read buffer, which bounds pipelining to one
// request in work per connection. A GET /letta/v1/ws upgrade hands the socket to a
// ws_session.
//
// Ownership: the app owns the server; sessions keep themselves alive through shared_ptrs
// held by their pending operations. Thread-safety: start()/stop() from any thread.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "daemon/config.hpp"
#include "daemon/router.hpp"

namespace orch::daemon {

class http_server {
 public:
  http_server(boost::asio::io_context& io, router& r, const server_options& opts, metrics::registry& metrics);
  ~http_server();

  // Binds and listens; throws std::runtime_error naming the address when it cannot.
  void start();
  // Stops accepting; open connections finish their current request and close.
  void stop();
  std::uint16_t port() const { return port_; }
  // Shutdown: every WebSocket session sends what it has queued, then a close frame (going
  // away), then closes. Idle keep-alive HTTP connections are closed.
  void close_websockets();
  // WebSocket sessions still open plus requests not yet answered (idle keep-alive
  // connections are owed nothing and do not count).
  std::uint32_t open_connections() const;

  struct shared_state;  // limits and counters the sessions read (defined in daemon/http_server_state.hpp)

 private:
  boost::asio::io_context& io_;
  server_options opts_;
  std::shared_ptr<shared_state> state_;
  std::shared_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::uint16_t port_ = 0;
};

}  // namespace orch::daemon
