#pragma once
// eventually(): the one polling helper of the tests. Calls `pred` until it holds or `timeout`
// passes, pausing between calls with a short exponential backoff (1 ms doubling to 50 ms), and
// returns whether it held. Tests assert on the result (REQUIRE(eventually(...))) and only ever
// wait for a positive condition: a test never sleeps to see that something did NOT happen.
// Header-only, no state; `pred` runs on the calling thread.
#include <algorithm>
#include <chrono>
#include <thread>

namespace orch::testing {

template <class Pred>
bool eventually(Pred&& pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + timeout;
  std::chrono::milliseconds pause{1};
  for (;;) {
    if (pred()) return true;
    const auto now = clock::now();
    if (now >= deadline) return false;
    // The backoff between polls (the one sleep of the helper; it never decides an outcome).
    std::this_thread::sleep_for(std::min<clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

}  // namespace orch::testing
