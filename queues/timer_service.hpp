#pragma once
// timer_service: "call me at time t", beside the clock. The Letta call scheduler, the
// conversation worker's tick and the dispatcher's drain ask for wake-ups through it, so their
// tests run on a manual clock with manual timers and never sleep. In queues/ so that both the
// dispatcher and the workers can use it.
// - asio_timer_service: one boost::asio::steady_timer per request, on the io_context.
// - manual_timer_service: holds requests until the test calls fire_due(now) after advancing
//   its manual clock; due callbacks then run inline, in time order.
//
// Ownership: the user owns the service and keeps it alive while timers may fire.
// Thread-safety: schedule() may be called from any thread. Callbacks never run inline in
// schedule(). How it fails: it does not; a callback may run late (never early), and a stale
// wake-up is the caller's to ignore.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "policies/clock.hpp"

namespace orch::queues {

class timer_service {
 public:
  virtual ~timer_service() = default;
  // Runs fn once, at or after `at` (as seen by `now`: the delay is at - now).
  virtual void schedule(policies::time_point at, policies::time_point now, std::function<void()> fn) = 0;
};

class asio_timer_service final : public timer_service {
 public:
  explicit asio_timer_service(boost::asio::io_context& io) : io_(io) {}
  void schedule(policies::time_point at, policies::time_point now, std::function<void()> fn) override {
    auto t = std::make_shared<boost::asio::steady_timer>(io_);
    t->expires_after(std::max(policies::duration::zero(), at - now));
    t->async_wait([t, fn = std::move(fn)](const boost::system::error_code& ec) {
      if (!ec) fn();
    });
  }

 private:
  boost::asio::io_context& io_;
};

class manual_timer_service final : public timer_service {
 public:
  void schedule(policies::time_point at, policies::time_point, std::function<void()> fn) override {
    std::lock_guard lk(mu_);
    timers_.emplace(at, std::move(fn));
  }
  // Runs every callback due at `now` (including ones scheduled by callbacks and already due).
  // Returns how many ran.
  std::size_t fire_due(policies::time_point now) {
    std::size_t n = 0;
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard lk(mu_);
        auto it = timers_.begin();
        if (it == timers_.end() || it->first > now) return n;
        fn = std::move(it->second);
        timers_.erase(it);
      }
      fn();
      ++n;
    }
  }
  std::size_t pending() const {
    std::lock_guard lk(mu_);
    return timers_.size();
  }

 private:
  mutable std::mutex mu_;
  std::multimap<policies::time_point, std::function<void()>> timers_;
};

}  // namespace orch::queues
