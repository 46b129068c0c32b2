#include "daemon/event_wait.hpp"

#include <boost/asio/post.hpp>

namespace orch::daemon {

namespace net = boost::asio;

std::shared_ptr<event_wait> event_wait::start(queues::event_hub& hub, const std::string& game,
                                              const net::any_io_executor& ex, match_fn match, done_fn done) {
  auto w = std::make_shared<event_wait>(ex);
  w->match_ = std::move(match);
  w->done_ = std::move(done);
  std::weak_ptr<event_wait> weak = w;
  w->sub_ = hub.subscribe(game, [weak](const queues::event_ptr& ev) {
    auto self = weak.lock();
    if (!self || self->done_flag_.load()) return;
    if (auto answer = self->match_(*ev)) self->finish_now(std::move(answer));
  });
  return w;
}

void event_wait::arm(std::chrono::milliseconds timeout) {
  timer_.expires_after(timeout);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return;
    self->finish(std::nullopt);
  });
}

void event_wait::finish_now(std::optional<std::string> answer) {
  net::post(ex_,
            [self = shared_from_this(), answer = std::move(answer)]() mutable { self->finish(std::move(answer)); });
}

void event_wait::cancel() {
  claim();
  timer_.cancel();
  sub_.reset();
}

// Runs on ex_ only.
void event_wait::finish(std::optional<std::string> answer) {
  if (!claim()) return;
  timer_.cancel();
  sub_.reset();
  done_(std::move(answer));
}

}  // namespace orch::daemon
