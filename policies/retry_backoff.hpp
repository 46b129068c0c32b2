#pragma once
// Retry policy for Letta calls (DESIGN 5.4): which failures are retried, and how long to wait
// before the next attempt — exponential backoff with full jitter, honouring Retry-After.
//
// Pure functions plus a small seeded jitter source. No clock, no I/O. `jitter_source` is not
// thread-safe (the owner serialises it). Nothing here fails.
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

#include "policies/clock.hpp"

namespace orch::policies {

struct backoff_options {
  duration base = std::chrono::milliseconds(250);
  duration max = std::chrono::seconds(8);
  duration retry_after_cap = std::chrono::seconds(60);
  std::uint32_t max_attempts = 5;  // attempts in total, the first one included
};

// Upper bound of the jitter window before attempt number `attempt + 1`, where `attempt` is the
// number of attempts already made (>= 1): base * 2^(attempt-1), capped at max.
duration backoff_ceiling(const backoff_options& o, std::uint32_t attempt);

// Delay before the next attempt. `unit_random` in [0, 1) picks the point in the full-jitter
// window [0, ceiling]. A Retry-After from the server (capped at retry_after_cap) is a floor.
duration backoff_delay(const backoff_options& o, std::uint32_t attempt, double unit_random,
                       std::optional<duration> retry_after = std::nullopt);

// Whether another attempt is allowed after `attempts` attempts.
inline bool may_retry(const backoff_options& o, std::uint32_t attempts) { return attempts < o.max_attempts; }

// Whether a failed attempt is worth retrying. `http_status` 0 means no response at all
// (timeout, connection error): retryable. 408, 429 and 5xx: retryable. 409: retryable unless
// the body's `detail.code` is "PENDING_APPROVAL". Other statuses (2xx, other 4xx): not.
bool is_retryable(int http_status, std::string_view body = {});

// Parses a Retry-After header value given in seconds ("1", "2.5"); nullopt when absent or
// not a non-negative number (HTTP dates are not used by Letta).
std::optional<duration> parse_retry_after(std::string_view value);

// Seeded uniform [0, 1) source for the jitter; tests pass a fixed seed.
class jitter_source {
 public:
  explicit jitter_source(std::uint64_t seed) : rng_(seed) {}
  double next() { return dist_(rng_); }

 private:
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> dist_{0.0, 1.0};
};

}  // namespace orch::policies
