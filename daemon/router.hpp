#pragma once
// The HTTP API (DESIGN 3): maps a parsed request to its answer. Socket-free — sessions hand
// it a request and a callback, so tests and the WebSocket session share the same paths.
//
// Ownership: the app owns one router; sessions hold a reference. Thread-safety: handle() may
// run on any io thread concurrently; all state it touches is thread-safe. How it fails: every
// bad input becomes a 4xx JSON error naming the field; nothing throws out of handle().
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/http.hpp>

#include "common/metrics.hpp"
#include "daemon/config.hpp"
#include "daemon/json_codec.hpp"
#include "daemon/readiness.hpp"
#include "daemon/snapshot_pool.hpp"
#include "queues/dispatcher.hpp"
#include "queues/event_hub.hpp"
#include "workers/world_view.hpp"

namespace orch::daemon {

namespace http = boost::beast::http;
using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;

struct router_services {
  std::function<std::shared_ptr<const config>()> current_config;
  queues::dispatcher& dispatcher;
  queues::event_hub& events;
  metrics::registry& metrics;
  const workers::world_views& views;
  readiness& ready;
  // Reads a block of the simulated Letta backend; empty function when the backend is http.
  std::function<std::optional<std::string>(const std::string& agent, const std::string& label)> debug_block;
};

class router {
 public:
  explicit router(router_services s);

  using respond_fn = std::function<void(http_response)>;
  // `ex` is the session's executor: timers of long-polls and /chat/v3 waits run on it.
  void handle(http_request&& req, const boost::asio::any_io_executor& ex, respond_fn respond);

  // POST /letta/v1/snapshot/game whose body the server read into its own buffer rather than
  // into req.body(): the same checks and answers as handle(). `body` need only stay valid
  // until this returns; `readable_after` as for read_snapshot_fast. When `accepted_bytes` is
  // given and the answer is a 202 to an HTTP/1.1 keep-alive request, the answer is rendered
  // there instead (render_accepted) and `respond` is not called.
  void handle_snapshot(const http_request& req, std::string_view body, std::size_t readable_after, respond_fn respond,
                       std::string* accepted_bytes = nullptr);
  // The path of a target is the snapshot route.
  static bool is_snapshot_route(std::string_view target);

  // Checks a request from its headers alone, before its body is read: auth first (so that
  // 404/405 reveal nothing to a client without the token), then route and method. Returns
  // the answer when the request is refused.
  std::optional<http_response> check_headers(const http_request& req);
  // The path of a target is the WebSocket route (upgrades are accepted there only).
  static bool is_ws_route(std::string_view target);

  // Bearer-token check (every route but /healthz when server.auth_token_file is set).
  bool authorized(const http_request& req) const;

  // A WebSocket upgrade for GET /letta/v1/ws: returns an error response when it must be
  // refused, else fills game and since. An X-Game-Id that names another game than the query's
  // gameId is refused (400): behind nginx the connection went to the header's daemon.
  std::optional<http_response> check_ws_upgrade(const http_request& req, std::string& game, std::uint64_t& since);

  // A text frame from a WebSocket client; returns the frame to send back (ack or error).
  // `header_game` is the upgrade request's X-Game-Id (may be empty): a frame naming another
  // game is refused with an error frame naming gameId, and nothing is queued (DESIGN 10).
  std::optional<std::string> on_ws_frame(std::string_view text, std::string_view header_game = {});

  // The JSON answer `{..}` to a chat turn accepted from anywhere, or an error.
  struct submit_outcome {
    unsigned status = 202;
    std::string body;
    std::optional<unsigned> retry_after;
  };
  // `s` becomes the message payload as it is (a pooled snapshot goes back to its pool when the
  // worker drops it).
  submit_outcome submit_snapshot(std::shared_ptr<workers::snapshot> s);
  // The 400 body when an X-Game-Id header names another game than the body; nullopt if not.
  static std::optional<std::string> game_header_mismatch(std::string_view header, const std::string& body_game,
                                                         const char* code);
  submit_outcome submit_turn(std::shared_ptr<workers::chat_turn> t);

  // Admission of a new subscriber (WebSocket client or waiting long-poll) to `game`: the
  // game must be admitted (events.max_games) and have room (events.max_subscribers_per_game).
  // Returns the refusal (429) when not.
  std::optional<submit_outcome> admit_subscriber(const std::string& game);

  queues::event_hub& events() { return s_.events; }
  std::shared_ptr<const config> cfg() const { return s_.current_config(); }

 private:
  void handle_events(http_request&& req, const boost::asio::any_io_executor& ex, respond_fn respond);
  void handle_chat_v3(http_request&& req, const boost::asio::any_io_executor& ex, respond_fn respond);
  // Auth, then route (`route` is the route table entry, or null), then method.
  std::optional<http_response> check_route(const http_request& req, std::string_view path, const void* route);
  // check_route, then a POST's Content-Type (415 unless JSON).
  std::optional<http_response> check_request(const http_request& req, std::string_view path, const void* route);
  // Parse, check the X-Game-Id header, submit: the snapshot route after check_request.
  void snapshot_route(const http_request& req, std::string_view body, std::size_t readable_after,
                      const respond_fn& respond, std::string* accepted_bytes = nullptr);
  static submit_outcome too_many_games(const std::string& game);
  static submit_outcome outcome_of(const queues::submit_result& r, std::string accepted_body);
  static http_response to_response(submit_outcome out, unsigned version, bool keep_alive);
  std::string next_turn_id();
  std::string turn_key(const workers::chat_turn& t) const;

  router_services s_;
  // The snapshot route's parsed snapshots, refilled in place (one pool for all io threads: a
  // snapshot comes back from a worker thread, so per-io-thread pools would still need a lock).
  snapshot_pool snapshots_;
  std::string boot_nonce_;
  std::atomic<std::uint64_t> turn_counter_{0};
  metrics::counter& bad_requests_;
  metrics::counter& subscribers_refused_;
};

// Helpers shared by the sessions.
http_response json_response(unsigned status, std::string body, unsigned version, bool keep_alive);
// Exactly the bytes Beast writes for json_response(202, body, 11, true), into `out` (its
// capacity is reused): the snapshot route's usual answer without building a message.
void render_accepted(std::string_view body, std::string& out);

}  // namespace orch::daemon
