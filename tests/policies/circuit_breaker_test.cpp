#include <doctest/doctest.h>

#include "policies/circuit_breaker.hpp"

using namespace orch::policies;
using namespace std::chrono_literals;

TEST_CASE("breaker: opens after threshold consecutive failures") {
  manual_clock c;
  circuit_breaker b(3, 5s);
  CHECK(b.allow(c.now()));
  b.on_failure(c.now());
  b.on_failure(c.now());
  b.on_success(c.now());  // resets the run
  b.on_failure(c.now());
  b.on_failure(c.now());
  CHECK(b.state(c.now()) == breaker_state::closed);
  b.on_failure(c.now());
  CHECK(b.state(c.now()) == breaker_state::open);
  CHECK_FALSE(b.allow(c.now()));
  CHECK(b.transitions() == 1);
}

TEST_CASE("breaker: half-open allows one probe - success closes") {
  manual_clock c;
  circuit_breaker b(1, 5s);
  b.on_failure(c.now());
  c.advance(4999ms);
  CHECK_FALSE(b.allow(c.now()));
  c.advance(1ms);
  CHECK(b.state(c.now()) == breaker_state::half_open);
  CHECK(b.allow(c.now()));
  CHECK_FALSE(b.allow(c.now()));  // one probe only
  b.on_success(c.now());
  CHECK(b.state(c.now()) == breaker_state::closed);
  CHECK(b.allow(c.now()));
  CHECK(b.transitions() == 3);
}

TEST_CASE("breaker: failed probe reopens for another open period") {
  manual_clock c;
  circuit_breaker b(2, 1s);
  b.on_failure(c.now());
  b.on_failure(c.now());
  c.advance(1s);
  REQUIRE(b.allow(c.now()));
  b.on_failure(c.now());
  CHECK(b.state(c.now()) == breaker_state::open);
  CHECK_FALSE(b.allow(c.now()));
  c.advance(999ms);
  CHECK_FALSE(b.allow(c.now()));
  c.advance(1ms);
  CHECK(b.allow(c.now()));
  // A late success from before opening does not close an open breaker.
  circuit_breaker d(1, 1s);
  d.on_failure(c.now());
  d.on_success(c.now());
  CHECK(d.state(c.now()) == breaker_state::open);
}
