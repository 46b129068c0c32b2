#pragma once
// The daemon's notion of time. Logic never reads the system clock itself: it takes a `now`
// or a `clock&`, so tests drive it with a manual_clock moved forward by hand.
#include <atomic>
#include <chrono>

namespace orch::policies {

using duration = std::chrono::steady_clock::duration;
using time_point = std::chrono::steady_clock::time_point;

// Interface; implementations are thread-safe.
class clock {
 public:
  virtual ~clock() = default;
  virtual time_point now() const = 0;
};

// The monotonic clock of the running daemon.
class steady_clock final : public clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
};

// A clock for tests: starts at an arbitrary fixed point and moves only when told to.
class manual_clock final : public clock {
 public:
  time_point now() const override { return time_point{duration{ticks_.load()}}; }
  void advance(duration d) { ticks_.fetch_add(d.count()); }
  void set(time_point t) { ticks_.store(t.time_since_epoch().count()); }

 private:
  std::atomic<duration::rep> ticks_{std::chrono::duration_cast<duration>(std::chrono::hours(1)).count()};
};

}  // namespace orch::policies
