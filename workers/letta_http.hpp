#pragma once
// letta_http: the raw HTTP transport to a Letta server (or fake-letta), a Boost.Beast async
// client. `letta.base_url` is http://host:port[/prefix]; keep-alive connections are pooled
// (idle pool bounded by max_in_flight; the discipline above bounds the busy ones). Each request
// has `letta.timeout_ms` for connect + write + read (tcp_stream expiry); answers above 8 MiB are
// refused ("too_large"). `Authorization: Bearer <token>` when letta_options::token is set.
//
// Ownership: create with std::make_shared (requests in progress hold a reference).
// Thread-safety: execute() from any thread; the idle pool has a mutex; each request runs as its
// own coroutine on the io_context. How it fails: no exception escapes a request; a request
// without an answer completes with status 0 and "timeout" | "connection" | "too_large". A
// request that fails on a reused keep-alive connection before any answer is retried once on a
// fresh connection (the server may have closed it while idle). The constructor throws
// std::invalid_argument on a malformed base_url (a config error).
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "workers/letta_options.hpp"
#include "workers/letta_transport.hpp"

namespace orch::workers {

struct http_endpoint {
  std::string host;
  std::string port;
  std::string prefix;  // path prefix without a trailing '/', may be empty
};
// Parses http://host[:port][/prefix]; throws std::invalid_argument.
http_endpoint parse_base_url(const std::string& url);

class letta_http final : public letta_transport, public std::enable_shared_from_this<letta_http> {
 public:
  static constexpr std::size_t max_body_bytes = 8u << 20;

  letta_http(boost::asio::io_context& io, const letta_options& opts);
  ~letta_http() override;

  void execute(transport_request req, response_fn cb) override;

 private:
  struct connection;
  struct impl;
  boost::asio::io_context& io_;
  http_endpoint ep_;
  std::string token_;
  std::chrono::milliseconds timeout_;
  std::size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<connection>> idle_;
};

}  // namespace orch::workers
