#pragma once
// One pending wait on a game's events, shared by the long-poll (GET /letta/v1/events with
// wait_ms) and POST /letta/v1/chat/v3: it subscribes to the game, and answers exactly once —
// with the first event its `match` accepts, or with nullopt when the timer fires first.
//
// Ownership: start() returns a shared_ptr; the subscription callback holds a weak_ptr and the
// timer's handler a shared_ptr, so the wait lives until it has answered. Thread-safety:
// `match` runs on the publishing thread (it must be cheap and only read the event); `done`
// runs on the executor given to start() (the session's strand), once. How it fails: it
// cannot; a wait whose session went away still answers into a callback that drops it.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "queues/event_hub.hpp"

namespace orch::daemon {

class event_wait : public std::enable_shared_from_this<event_wait> {
 public:
  // Returns the answer an event calls for, or nullopt to keep waiting.
  using match_fn = std::function<std::optional<std::string>(const queues::event&)>;
  using done_fn = std::function<void(std::optional<std::string>)>;

  // Subscribes to `game` at once (before the caller submits or re-reads, so nothing published
  // after start() is missed); the timer starts with arm().
  static std::shared_ptr<event_wait> start(queues::event_hub& hub, const std::string& game,
                                           const boost::asio::any_io_executor& ex, match_fn match, done_fn done);
  explicit event_wait(const boost::asio::any_io_executor& ex) : timer_(ex), ex_(ex) {}

  void arm(std::chrono::milliseconds timeout);
  // Answers now with `answer` (posted to the executor), unless it has answered already.
  void finish_now(std::optional<std::string> answer);
  // Drops the wait without answering.
  void cancel();

 private:
  void finish(std::optional<std::string> answer);
  bool claim() { return !done_flag_.exchange(true); }

  boost::asio::steady_timer timer_;
  boost::asio::any_io_executor ex_;
  std::unique_ptr<queues::event_hub::subscription> sub_;
  std::atomic<bool> done_flag_{false};
  match_fn match_;
  done_fn done_;
};

}  // namespace orch::daemon
