#include <doctest/doctest.h>

#include "policies/retry_backoff.hpp"

using namespace orch::policies;
using namespace std::chrono_literals;

TEST_CASE("backoff: ceiling doubles from base to max") {
  backoff_options o;
  CHECK(backoff_ceiling(o, 1) == 250ms);
  CHECK(backoff_ceiling(o, 2) == 500ms);
  CHECK(backoff_ceiling(o, 3) == 1000ms);
  CHECK(backoff_ceiling(o, 6) == 8000ms);
  CHECK(backoff_ceiling(o, 50) == 8000ms);
}

TEST_CASE("backoff: full jitter spans [0, ceiling]") {
  backoff_options o;
  CHECK(backoff_delay(o, 3, 0.0) == 0ms);
  CHECK(backoff_delay(o, 3, 0.5) == 500ms);
  jitter_source j(42);
  duration lo = 1h, hi = 0ms;
  for (int i = 0; i < 2000; ++i) {
    auto d = backoff_delay(o, 4, j.next());
    lo = std::min(lo, d);
    hi = std::max(hi, d);
    REQUIRE(d <= 2000ms);
  }
  CHECK(lo < 100ms);
  CHECK(hi > 1900ms);
  // Same seed, same sequence.
  jitter_source a(7), b(7);
  for (int i = 0; i < 10; ++i) CHECK(a.next() == b.next());
}

TEST_CASE("backoff: Retry-After is a floor, capped at 60 s") {
  backoff_options o;
  CHECK(backoff_delay(o, 1, 0.1, 1s) == 1s);
  CHECK(backoff_delay(o, 1, 0.1, 300s) == 60s);
  CHECK(backoff_delay(o, 6, 0.9, 1s) > 7s);  // jitter above the floor wins
  CHECK(parse_retry_after("1") == duration(1s));
  CHECK(parse_retry_after(" 2.5 ") == std::chrono::duration_cast<duration>(2500ms));
  CHECK_FALSE(parse_retry_after("").has_value());
  CHECK_FALSE(parse_retry_after("-1").has_value());
  CHECK_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").has_value());
}

TEST_CASE("retry classification") {
  CHECK(is_retryable(0));
  CHECK(is_retryable(408));
  CHECK(is_retryable(429));
  CHECK(is_retryable(500));
  CHECK(is_retryable(502));
  CHECK(is_retryable(503));
  CHECK(is_retryable(504));
  CHECK(is_retryable(409, R"({"detail":"Cannot send a new message: Another request is being processed"})"));
  CHECK_FALSE(is_retryable(409, R"({"detail":{"code":"PENDING_APPROVAL","message":"x"}})"));
  CHECK(is_retryable(409, R"({"detail":"PENDING_APPROVAL mentioned in a string"})"));
  CHECK_FALSE(is_retryable(200));
  CHECK_FALSE(is_retryable(400));
  CHECK_FALSE(is_retryable(401));
  CHECK_FALSE(is_retryable(404));
  CHECK_FALSE(is_retryable(422));
  backoff_options o;
  o.max_attempts = 3;
  CHECK(may_retry(o, 1));
  CHECK(may_retry(o, 2));
  CHECK_FALSE(may_retry(o, 3));
}
