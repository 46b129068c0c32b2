#pragma once
// One WebSocket client of GET /letta/v1/ws?gameId=G&since=N (DESIGN 3.3): pushes the game's
// events as text frames (the backlog after `since` first, then live ones, no gaps, no
// duplicates), and accepts `snapshot` and `chat` frames, answering each with an `ack` or an
// `error` frame. permessage-deflate when the client offers it; ping/pong keep-alive.
//
// Joining: the backlog after `since` is sent up to half the outbound bound; what does not fit
// (or what the replay buffer no longer holds, or a `since` ahead of the log) is skipped with a
// `{"type":"reset","next":N}` frame, and every event after N follows (DESIGN 3.3).
// Bounded: exactly one async_write outstanding (ws_outbox); at most server.ws_outbound_max
// frames queued — a client that falls behind the live stream is disconnected (counted) and
// resumes with `since`.
// Frames in: with an X-Game-Id on the upgrade request, a frame naming another game is answered
// with an error frame and not queued (router::on_ws_frame; DESIGN 10).
// Thread-safety: everything runs on the connection's strand; hub callbacks post onto it.
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "daemon/http_server.hpp"
#include "daemon/router.hpp"
#include "daemon/ws_outbox.hpp"

namespace orch::daemon {

class ws_session : public std::enable_shared_from_this<ws_session> {
 public:
  // `addr` is the client's address: its per-address connection slot is the session's now.
  ws_session(boost::asio::ip::tcp::socket&& socket, boost::asio::ip::address addr,
             std::shared_ptr<http_server::shared_state> state, std::string game, std::uint64_t since);
  ~ws_session();
  void run(http_request req);
  // Shutdown (any thread): sends what is queued, then a close frame (going away); the peer's
  // answer or the idle timeout ends the session.
  void close_going_away();

 private:
  void on_accept(boost::beast::error_code ec);
  void send_backlog();
  void on_event(const queues::event_ptr& ev);
  void enqueue(std::shared_ptr<const std::string> frame);
  void do_write();
  void on_write(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t n);
  void close_overflowed();
  void cut_off();
  void send_close();

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::flat_buffer buffer_;
  std::shared_ptr<http_server::shared_state> state_;
  std::string game_;
  std::string header_game_;  // the upgrade request's X-Game-Id, may be empty
  std::uint64_t last_sent_ = 0;
  bool backlog_done_ = false;
  bool going_away_ = false;  // shutdown: close once the outbox has drained
  bool close_sent_ = false;
  boost::asio::ip::address addr_;
  ws_outbox outbox_;
  std::unique_ptr<queues::event_hub::subscription> sub_;
};

}  // namespace orch::daemon
