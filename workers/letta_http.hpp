#pragma once
// letta_http: the raw HTTP transport to a Letta server (or fake-letta), a Boost.Beast async
// client. `letta.base_url` is http://host:port[/prefix]; keep-alive connections are pooled
// (idle pool bounded by max_in_flight; the discipline above bounds the busy ones).
// Timeouts: DNS resolution and the TCP connect share `letta.connect_timeout_ms` (one deadline;
// a resolution that never completes fails "timeout" there, like a connect that hangs); writing
// the request and reading its answer get `letta.timeout_ms`. Each resolve or connect failure is
// counted in npcorch_letta_connect_failures_total{stage="resolve|connect",reason="timeout|error"}.
// Name resolution goes through a resolve_fn: asio's tcp::resolver unless the constructor is given
// another (the tests' seam: a resolver that hangs or fails on demand). Answers above
// `letta.max_response_bytes` (body) or 8 KiB (headers) fail with "too_large", are counted and
// their connection is closed. `Authorization: Bearer <token>` when letta_options::token is set.
//
// Ownership: create with std::make_shared (requests in progress hold a reference).
// Thread-safety: execute() from any thread; the idle pool has a mutex. Each connection has its
// own strand: the request coroutine, the stream's timeout handler and the resolve timer all run
// on it, so no two handlers of one connection ever run at once. A resolve_fn may complete on
// any thread, late (after its request timed out) or never; its completion is moved onto the
// strand and a late one is ignored. A pooled connection is handed
// to a request together with its strand.
// How it fails: no exception escapes a request; a request without an answer completes with
// status 0 and "timeout" | "connection" | "too_large". A pooled connection the server closed
// while idle is detected before use and dropped (counted). A request whose write fails on a
// pooled connection, or an idempotent one (GET, PATCH) whose pooled connection ends before any
// answer byte, is sent again once, always on a fresh connection (counted); a POST that was
// written is never sent again here: it may have landed, the discipline above decides (a message
// call looks for its otid first). The constructor throws std::invalid_argument on a malformed
// base_url (a config error).
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include "common/metrics.hpp"
#include "workers/letta_options.hpp"
#include "workers/letta_transport.hpp"

namespace orch::workers {

struct http_endpoint {
  std::string host;
  std::string port;
  std::string prefix;     // path prefix without a trailing '/', may be empty
  std::string authority;  // the Host header: host:port, an IPv6 host in brackets
};
// Parses http://host[:port][/prefix]; throws std::invalid_argument.
http_endpoint parse_base_url(const std::string& url);

// Resolves host and port (as in the base_url) to endpoints and calls `done` once, from any
// thread; it may also never call it (the request's connect deadline ends the wait).
using resolve_done_fn = std::function<void(boost::system::error_code, std::vector<boost::asio::ip::tcp::endpoint>)>;
using resolve_fn = std::function<void(const std::string& host, const std::string& port, resolve_done_fn done)>;
// The default: asio's tcp::resolver (getaddrinfo on asio's resolver thread) on `io`.
resolve_fn asio_resolver(boost::asio::io_context& io);

class letta_http final : public letta_transport, public std::enable_shared_from_this<letta_http> {
 public:
  // `metrics` may be null (no counters); otherwise it must outlive the client. `resolve`
  // empty = asio_resolver(io).
  letta_http(boost::asio::io_context& io, const letta_options& opts, metrics::registry* metrics = nullptr,
             resolve_fn resolve = {});
  ~letta_http() override;

  void execute(transport_request req, response_fn cb) override;

 private:
  struct connection;
  struct impl;
  std::shared_ptr<connection> take_idle();
  void count(const char* name, const char* help);
  void count_connect_failure(const char* stage, const boost::system::error_code& ec);

  boost::asio::io_context& io_;
  http_endpoint ep_;
  std::string token_;
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds connect_timeout_;
  std::size_t max_response_bytes_;
  std::size_t max_idle_;
  metrics::registry* metrics_;
  resolve_fn resolve_;
  std::mutex mu_;
  std::vector<std::shared_ptr<connection>> idle_;
};

}  // namespace orch::workers
