// timer_service: the manual implementation fires in time order when the test advances, and
// cancel() withdraws a callback; the Asio one runs a due callback on the io_context and a
// cancelled one never (io.run() returns once nothing is pending, which the timer would block).
#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "policies/clock.hpp"
#include "queues/timer_service.hpp"

using namespace orch::queues;
using namespace std::chrono_literals;

TEST_CASE("manual_timer_service: fires due callbacks in time order, ties in schedule order") {
  orch::policies::manual_clock clock;
  manual_timer_service timers;
  std::vector<std::string> ran;
  const auto t0 = clock.now();
  timers.schedule(t0 + 20ms, t0, [&] { ran.push_back("c"); });
  timers.schedule(t0 + 10ms, t0, [&] { ran.push_back("a"); });
  timers.schedule(t0 + 10ms, t0, [&] { ran.push_back("b"); });
  CHECK(timers.pending() == 3);
  clock.advance(9ms);
  CHECK(timers.fire_due(clock.now()) == 0);
  clock.advance(1ms);
  CHECK(timers.fire_due(clock.now()) == 2);
  CHECK(ran == std::vector<std::string>{"a", "b"});
  clock.advance(1h);
  CHECK(timers.fire_due(clock.now()) == 1);
  CHECK(ran == std::vector<std::string>{"a", "b", "c"});
  CHECK(timers.pending() == 0);
}

TEST_CASE("manual_timer_service: a callback may schedule another, one already due runs in the same pass") {
  orch::policies::manual_clock clock;
  manual_timer_service timers;
  int ticks = 0;
  std::function<void()> tick = [&] {
    if (++ticks < 3)
      timers.schedule(clock.now(), clock.now(), tick);  // due at once
    else
      timers.schedule(clock.now() + 1s, clock.now(), tick);  // due later
  };
  timers.schedule(clock.now(), clock.now(), tick);
  CHECK(timers.fire_due(clock.now()) == 3);
  CHECK(ticks == 3);
  CHECK(timers.pending() == 1);
}

TEST_CASE("manual_timer_service: cancel withdraws a pending callback, once, ids are not reused") {
  orch::policies::manual_clock clock;
  manual_timer_service timers;
  int a = 0, b = 0;
  const auto t0 = clock.now();
  const timer_id ia = timers.schedule(t0 + 5ms, t0, [&] { ++a; });
  const timer_id ib = timers.schedule(t0 + 5ms, t0, [&] { ++b; });
  CHECK(ia != 0);
  CHECK(ia != ib);
  CHECK(timers.cancel(ia));
  CHECK_FALSE(timers.cancel(ia));  // already withdrawn
  CHECK(timers.pending() == 1);
  clock.advance(5ms);
  CHECK(timers.fire_due(clock.now()) == 1);
  CHECK(a == 0);
  CHECK(b == 1);
  CHECK_FALSE(timers.cancel(ib));  // already ran
  CHECK_FALSE(timers.cancel(12345));
  const timer_id ic = timers.schedule(clock.now(), clock.now(), [] {});
  CHECK(ic > ib);  // a fresh id, never an old one again
}

TEST_CASE("asio_timer_service: a due timer runs on the io_context, a cancelled one never runs") {
  boost::asio::io_context io;
  asio_timer_service timers(io);
  orch::policies::steady_clock clock;
  int due = 0, cancelled = 0;
  const auto now = clock.now();
  timers.schedule(now, now, [&] { ++due; });
  const timer_id far = timers.schedule(now + 1h, now, [&] { ++cancelled; });
  CHECK(due == 0);  // never inline in schedule()
  CHECK(timers.cancel(far));
  CHECK_FALSE(timers.cancel(far));
  // Bounded, so that a broken cancel fails the test instead of hanging it for an hour: the
  // context runs out of work (stopped) only if the hour-long wait was really withdrawn.
  io.run_for(10s);
  CHECK(io.stopped());
  CHECK(due == 1);
  CHECK(cancelled == 0);
}

TEST_CASE("asio_timer_service: a timer outliving its service does nothing when it fires") {
  boost::asio::io_context io;
  int ran = 0;
  {
    asio_timer_service timers(io);
    orch::policies::steady_clock clock;
    timers.schedule(clock.now(), clock.now(), [&] { ++ran; });
  }
  io.run_for(10s);
  CHECK(io.stopped());
  CHECK(ran == 0);
}
