#pragma once
// gcra: the generic cell rate algorithm as a reservation (DESIGN 5.4, 10), the arithmetic the
// shared limiter's Lua script runs inside Redis (workers/redis_rate_gate.cpp holds the same
// steps in Lua). A limit of one token per `interval` with bursts of `burst` tokens keeps one
// number per key, the theoretical arrival time (TAT). Asking for a token reserves the next free
// slot and says how long to wait for it: in any window of length W at most burst + W/interval
// tokens are handed out. A slot further away than `max_wait` is refused (nothing reserved).
//
// Pure: times are integers in microseconds passed in by the caller; no clock, no I/O.
#include <cstdint>
#include <optional>

namespace orch::policies {

struct gcra_params {
  std::int64_t interval_us = 50'000;  // 1e6 / rate per second
  double burst = 1;                   // tokens that may go at once (>= 1)
  std::int64_t max_wait_us = 60'000'000;
};

struct gcra_answer {
  bool allowed = false;
  std::int64_t wait_us = 0;  // allowed: wait this long, then go; refused: ask again after this
  std::int64_t tat_us = 0;   // the key's TAT to store (unchanged when refused)
};

// `tat`: the stored TAT (nullopt: none yet); `n` tokens at once. Integer arithmetic, as in the
// Lua script.
gcra_answer gcra_reserve(std::optional<std::int64_t> tat, std::int64_t now_us, const gcra_params& p,
                         std::int64_t n = 1);

// Parameters for `rate_per_s` and `burst` (rate > 0).
gcra_params gcra_for(double rate_per_s, double burst, std::int64_t max_wait_us = 60'000'000);

}  // namespace orch::policies
