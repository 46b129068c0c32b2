#pragma once
// timer_service: "call me at time t", beside the clock, and "never mind". The Letta call
// scheduler, the conversation worker's tick and the dispatcher's drain timeout ask for wake-ups
// through it, so their tests run on a manual clock with manual timers and never sleep. In
// queues/ so that both the dispatcher and the workers can use it.
// - asio_timer_service: one boost::asio::steady_timer per request, on the io_context.
// - manual_timer_service: holds requests until the test calls fire_due(now) after advancing
//   its manual clock; due callbacks then run inline, in time order (ties: schedule order).
//
// schedule() returns a timer_id; cancel(id) withdraws a callback that has not started. Ids are
// never reused, so cancelling a timer that already fired is a harmless `false`.
//
// Ownership: the user owns the service. A callback never runs after its service is destroyed
// (the asio implementation's Asio timers may still wait out their expiry on the io_context,
// then do nothing). Thread-safety: schedule() and cancel() may be called from any thread;
// callbacks never run inline in schedule() or cancel(). How it fails: it does not; a callback
// may run late (never early), and a stale wake-up is the caller's to ignore.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "policies/clock.hpp"

namespace orch::queues {

using timer_id = std::uint64_t;  // 0 never names a timer

class timer_service {
 public:
  virtual ~timer_service() = default;
  // Runs fn once, at or after `at` (as seen by `now`: the delay is at - now).
  virtual timer_id schedule(policies::time_point at, policies::time_point now, std::function<void()> fn) = 0;
  // Withdraws a timer whose callback has not started: it will not run. Returns false when the
  // callback already ran or started, was cancelled before, or `id` names no timer.
  virtual bool cancel(timer_id id) = 0;
};

class asio_timer_service final : public timer_service {
 public:
  explicit asio_timer_service(boost::asio::io_context& io) : io_(io), state_(std::make_shared<state>()) {}

  timer_id schedule(policies::time_point at, policies::time_point now, std::function<void()> fn) override {
    auto t = std::make_shared<boost::asio::steady_timer>(io_);
    t->expires_after(std::max(policies::duration::zero(), at - now));
    std::lock_guard lk(state_->mu);
    const timer_id id = ++state_->next;
    state_->live.emplace(id, t);
    // Under the lock, so that a cancel() from another thread sees the wait already started.
    // The handler never runs inline here: it cannot deadlock on the lock.
    t->async_wait([w = std::weak_ptr<state>(state_), t, id, fn = std::move(fn)](const boost::system::error_code& ec) {
      auto st = w.lock();
      if (!st) return;  // the service is gone
      {
        std::lock_guard lk2(st->mu);
        if (st->live.erase(id) == 0) return;  // cancelled
      }
      if (!ec) fn();
    });
    return id;
  }

  bool cancel(timer_id id) override {
    std::lock_guard lk(state_->mu);
    auto it = state_->live.find(id);
    if (it == state_->live.end()) return false;
    it->second->cancel();  // the wait completes with operation_aborted and frees the timer
    state_->live.erase(it);
    return true;
  }

 private:
  // Shared with the handlers (weakly), so that a handler outliving the service does nothing.
  struct state {
    std::mutex mu;
    timer_id next = 0;
    std::unordered_map<timer_id, std::shared_ptr<boost::asio::steady_timer>> live;
  };
  boost::asio::io_context& io_;
  std::shared_ptr<state> state_;
};

class manual_timer_service final : public timer_service {
 public:
  timer_id schedule(policies::time_point at, policies::time_point, std::function<void()> fn) override {
    std::lock_guard lk(mu_);
    const timer_id id = ++next_;
    timers_.emplace(std::pair{at, id}, std::move(fn));
    due_.emplace(id, at);
    return id;
  }

  bool cancel(timer_id id) override {
    std::lock_guard lk(mu_);
    auto it = due_.find(id);
    if (it == due_.end()) return false;
    timers_.erase(std::pair{it->second, id});
    due_.erase(it);
    return true;
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
        if (it == timers_.end() || it->first.first > now) return n;
        fn = std::move(it->second);
        due_.erase(it->first.second);
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
  timer_id next_ = 0;
  std::map<std::pair<policies::time_point, timer_id>, std::function<void()>> timers_;  // time, then order
  std::unordered_map<timer_id, policies::time_point> due_;
};

}  // namespace orch::queues
