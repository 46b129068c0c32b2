#include "daemon/ws_session.hpp"

#include <limits>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include "daemon/http_server_state.hpp"

namespace orch::daemon {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;

ws_session::ws_session(net::ip::tcp::socket&& socket, net::ip::address addr,
                       std::shared_ptr<http_server::shared_state> state, std::string game, std::uint64_t since)
    : ws_(std::move(socket)),
      state_(std::move(state)),
      game_(std::move(game)),
      last_sent_(since),
      addr_(addr),
      outbox_(state_->opts.ws_outbound_max) {
  state_->ws_clients.add(1);
}

ws_session::~ws_session() {
  state_->ws_clients.add(-1);
  state_->connections.add(-1);
  state_->open.fetch_sub(1);
  state_->give(addr_);
}

void ws_session::run(http_request req) {
  header_game_ = std::string(req["X-Game-Id"]);
  beast::get_lowest_layer(ws_).expires_never();
  // A fixed kernel send buffer (no autotuning to megabytes): with the bounded outbound queue
  // it caps what one slow client can hold, so it is cut off instead of growing memory.
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().set_option(net::socket_base::send_buffer_size(64 * 1024), ignored);
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.idle_timeout = std::chrono::seconds(60);
  timeouts.keep_alive_pings = true;  // ping at half the idle timeout; a silent peer is closed
  ws_.set_option(timeouts);
  websocket::permessage_deflate pmd;
  pmd.server_enable = true;
  ws_.set_option(pmd);
  ws_.read_message_max(state_->opts.ws_max_message_bytes);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(beast::http::field::server, "npc-orchestratord"); }));
  ws_.async_accept(req, beast::bind_front_handler(&ws_session::on_accept, shared_from_this()));
}

void ws_session::on_accept(beast::error_code ec) {
  if (ec) return;
  // Subscribe first, then read the backlog: an event published in between is delivered by
  // the subscription and skipped there if the backlog already had it (seq <= last_sent_).
  std::weak_ptr<ws_session> weak = shared_from_this();
  auto ex = ws_.get_executor();
  sub_ = state_->rt.events().subscribe(game_, [weak, ex](const queues::event_ptr& ev) {
    if (auto self = weak.lock()) net::post(ex, [self, ev] { self->on_event(ev); });
  });
  send_backlog();
  do_read();
}

void ws_session::send_backlog() {
  // The backlog may take half the outbound bound (minus the reset frame); the other half is
  // room for the live events that arrive while it drains. A client is never cut off for the
  // backlog it asked for: what does not fit is skipped with a reset (DESIGN 3.3).
  const std::size_t room = (outbox_.max_frames() - 1) / 2;
  auto r = state_->rt.events().read(game_, last_sent_, std::numeric_limits<std::size_t>::max());
  bool reset = r.reset;
  // The seq after which the client will have everything: on a reset, what precedes the
  // oldest event kept (or the log's last seq when nothing is kept, as after a restart).
  std::uint64_t next = reset ? (r.events.empty() ? r.next : r.events.front()->seq - 1) : last_sent_;
  std::size_t first = 0;
  if (r.events.size() > room) {
    first = r.events.size() - room;
    next = r.events[first - 1]->seq;
    reset = true;
  }
  if (reset) {
    state_->ws_resets.inc();
    enqueue(std::make_shared<const std::string>("{\"type\":\"reset\",\"next\":" + std::to_string(next) + "}"));
  }
  last_sent_ = next;
  for (std::size_t i = first; i < r.events.size(); ++i) {
    const auto& ev = r.events[i];
    enqueue(std::shared_ptr<const std::string>(ev, &ev->json));
    last_sent_ = ev->seq;
  }
  backlog_done_ = true;
}

void ws_session::on_event(const queues::event_ptr& ev) {
  if (outbox_.closed() || !backlog_done_ || ev->seq <= last_sent_) return;
  last_sent_ = ev->seq;
  enqueue(std::shared_ptr<const std::string>(ev, &ev->json));
}

void ws_session::enqueue(std::shared_ptr<const std::string> frame) {
  switch (outbox_.push(std::move(frame))) {
    case ws_outbox::push_result::start_write:
      return do_write();
    case ws_outbox::push_result::overflow:
      return close_overflowed();
    case ws_outbox::push_result::queued:
    case ws_outbox::push_result::closed:
      return;
  }
}

void ws_session::close_overflowed() {
  // The client reads slower than its game produces events: cut it off rather than buffer
  // without bound. It resumes with `since` and misses nothing still in the replay buffer.
  state_->ws_overflows.inc();
  cut_off();
}

void ws_session::cut_off() {
  // The outbox keeps the frame a write in flight refers to until on_write: cancelling makes
  // that write complete (with an error, or already done) and its handler releases it.
  outbox_.close();
  sub_.reset();
  beast::get_lowest_layer(ws_).cancel();
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(ws_).close();
}

void ws_session::close_going_away() {
  net::post(ws_.get_executor(), [self = shared_from_this()] {
    self->going_away_ = true;
    if (!self->outbox_.writing()) self->send_close();
  });
}

// Runs on the strand with no write in flight (a close frame is a write).
void ws_session::send_close() {
  if (close_sent_ || outbox_.closed()) return;
  close_sent_ = true;
  outbox_.close();  // nothing more is queued; nothing is left to write
  sub_.reset();
  ws_.async_close(websocket::close_code::going_away, [self = shared_from_this()](beast::error_code) {});
}

void ws_session::do_write() {
  ws_.text(true);
  ws_.async_write(net::buffer(outbox_.front()),
                  [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
}

void ws_session::on_write(beast::error_code ec) {
  if (!ec) state_->ws_events_sent.inc();
  if (outbox_.write_done(!ec)) return do_write();
  if (outbox_.closed())
    sub_.reset();
  else if (going_away_)
    send_close();
}

void ws_session::do_read() {
  ws_.async_read(buffer_, beast::bind_front_handler(&ws_session::on_read, shared_from_this()));
}

void ws_session::on_read(beast::error_code ec, std::size_t) {
  if (ec) {
    // Closed by the peer, a timeout, an oversized message or our own cut-off.
    outbox_.close();
    sub_.reset();
    return;
  }
  state_->ws_frames_in.inc();
  std::string text = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  if (!ws_.got_text()) {
    enqueue(std::make_shared<const std::string>(
        "{\"type\":\"error\",\"error\":\"invalid_frame\",\"detail\":\"(frame): expected a text frame\"}"));
  } else if (auto reply = state_->rt.on_ws_frame(text, header_game_)) {
    enqueue(std::make_shared<const std::string>(std::move(*reply)));
  }
  if (!outbox_.closed()) do_read();
}

}  // namespace orch::daemon
