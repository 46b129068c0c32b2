#pragma once
// One keep-alive HTTP/1.1 client connection (Boost.Beast), and a pool of them. A connection
// carries one request at a time; the pool hands a request to an idle connection or refuses
// it at once, which is what makes the flood open-loop: a request that finds no idle
// connection is counted not_sent, never queued behind the others.
//
// Ownership: the shard owns its pool; connections are shared_ptrs kept alive by their
// pending handlers. Thread-safety: none — each connection and pool lives on one
// single-threaded io_context. Failure: every exchange (connect, write, read) has a deadline
// (tcp_stream expiry); any error closes the socket and is reported to the callback with
// status 0; the next request reconnects. A request on a reused connection that the server
// had closed meanwhile is retried once on a fresh connection (that is not a drop).
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tools/npc-flood/malformed.hpp"

namespace orch::tools {

struct http_result {
  int status = 0;  // 0: no response (see ec)
  std::string body;
  std::string retry_after;       // header, when present
  boost::system::error_code ec;  // why there was no response
  double latency_s = 0;          // send -> response complete (or failure)
  bool write_failed = false;     // the body was not fully written (e.g. 413 then close)
};

class http_connection : public std::enable_shared_from_this<http_connection> {
 public:
  using callback = std::function<void(http_result)>;

  http_connection(boost::asio::io_context& io, boost::asio::ip::tcp::endpoint ep, std::string host,
                  std::chrono::milliseconds timeout);

  bool busy() const { return busy_; }
  // Precondition: !busy(). `cb` runs on the io_context's thread. `timeout` 0 = the default.
  void send(const raw_request& r, callback cb, std::chrono::milliseconds timeout = {});
  void close();

 private:
  void start();
  void on_connect(boost::system::error_code ec);
  void on_write(boost::system::error_code ec);
  void on_read(boost::system::error_code ec);
  void fail(boost::system::error_code ec);
  void finish(http_result r);

  boost::beast::tcp_stream stream_;
  boost::asio::ip::tcp::endpoint ep_;
  std::string host_;
  std::chrono::milliseconds default_timeout_;
  std::chrono::milliseconds timeout_{};
  bool connected_ = false;
  bool busy_ = false;
  bool reused_ = false;  // this request went out on an already used connection
  bool retried_ = false;
  bool write_failed_ = false;
  boost::beast::http::request<boost::beast::http::string_body> req_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
  boost::beast::flat_buffer buf_;
  callback cb_;
  std::chrono::steady_clock::time_point start_;
};

class http_pool {
 public:
  http_pool(boost::asio::io_context& io, boost::asio::ip::tcp::endpoint ep, std::string host, int size,
            std::chrono::milliseconds timeout);
  // Sends on an idle connection; false (nothing sent) when every connection is busy.
  bool try_send(const raw_request& r, http_connection::callback cb);
  std::size_t busy_count() const;
  void close_all();

 private:
  std::vector<std::shared_ptr<http_connection>> conns_;
  std::size_t next_ = 0;
};

}  // namespace orch::tools
