#include <doctest/doctest.h>

#include "policies/token_bucket.hpp"

using namespace orch::policies;
using namespace std::chrono_literals;

TEST_CASE("token_bucket: burst then steady rate") {
  manual_clock c;
  token_bucket b(10, 5, c.now());
  int ok = 0;
  for (int i = 0; i < 20; ++i) ok += b.try_acquire(c.now()) ? 1 : 0;
  CHECK(ok == 5);
  CHECK(b.wait_time(c.now()) > 99ms);
  CHECK(b.wait_time(c.now()) <= 101ms);
  c.advance(50ms);
  CHECK_FALSE(b.try_acquire(c.now()));
  c.advance(50ms);
  CHECK(b.try_acquire(c.now()));
  CHECK_FALSE(b.try_acquire(c.now()));
}

TEST_CASE("token_bucket: never more than burst + rate*T in a window") {
  manual_clock c;
  token_bucket b(20, 40, c.now());
  int ok = 0;
  // One second in 1 ms steps, trying 5 times per step.
  for (int ms = 0; ms <= 1000; ++ms) {
    for (int k = 0; k < 5; ++k) ok += b.try_acquire(c.now()) ? 1 : 0;
    c.advance(1ms);
  }
  CHECK(ok >= 59);
  CHECK(ok <= 60);
}

TEST_CASE("token_bucket: waiting wait_time is enough") {
  manual_clock c;
  token_bucket b(3, 1, c.now());
  REQUIRE(b.try_acquire(c.now()));
  for (int i = 0; i < 10; ++i) {
    auto w = b.wait_time(c.now());
    CHECK(w > 0ms);
    c.advance(w);
    CHECK(b.try_acquire(c.now()));
  }
}

TEST_CASE("token_bucket: refill caps at burst - unlimited when rate <= 0") {
  manual_clock c;
  token_bucket b(100, 3, c.now());
  c.advance(1h);
  CHECK(b.available(c.now()) == doctest::Approx(3));
  token_bucket u(0, 1, c.now());
  for (int i = 0; i < 1000; ++i) REQUIRE(u.try_acquire(c.now()));
  CHECK(u.wait_time(c.now()) == 0ms);
}

TEST_CASE("token_bucket: take() goes into debt that later acquisitions wait out") {
  manual_clock c;
  token_bucket b(10, 2, c.now());
  b.take(c.now(), 5);  // 2 there, 3 owed
  CHECK(b.available(c.now()) == doctest::Approx(-3));
  CHECK_FALSE(b.try_acquire(c.now()));
  // 3 owed + 1 wanted at 10/s: 400 ms.
  CHECK(b.wait_time(c.now()) > 399ms);
  CHECK(b.wait_time(c.now()) <= 401ms);
  c.advance(399ms);
  CHECK_FALSE(b.try_acquire(c.now()));
  c.advance(2ms);
  CHECK(b.try_acquire(c.now()));
  token_bucket u(0, 1, c.now());
  u.take(c.now(), 100);
  CHECK(u.try_acquire(c.now()));
}
