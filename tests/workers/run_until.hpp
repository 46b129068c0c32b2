#pragma once
// run_until(): runs an io_context one handler at a time until `done()` holds or `limit` passes,
// and returns whether it held. For tests of the Letta client over its real io_context (the
// simulated backend's timers); tests assert on the result, never on elapsed time.
#include <chrono>

#include <boost/asio/io_context.hpp>

namespace orch::testing {

template <class Pred>
bool run_until(boost::asio::io_context& io, Pred done, std::chrono::seconds limit = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < end) {
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(5));
  }
  return done();
}

}  // namespace orch::testing
