#pragma once
// What the Letta client's unit tests share, written once: discipline options with no rate
// limits, fast retries and a breaker that stays closed (each test sets what it is about on
// top), and a player's one-line message.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "workers/letta_discipline.hpp"

namespace orch::testing {

// jitter_seed 0 takes a random seed; per_game chooses per-(agent, game) conversations.
inline workers::discipline_options quick_discipline(std::uint64_t jitter_seed = 0, bool per_game = false) {
  using namespace std::chrono_literals;
  workers::discipline_options o;
  o.max_in_flight = 8;
  o.global_per_s = 0;  // unlimited
  o.per_agent_per_s = 0;
  o.backoff.base = 1ms;
  o.backoff.max = 4ms;
  o.backoff.max_attempts = 4;
  o.breaker_failure_threshold = 100;
  o.jitter_seed = jitter_seed;
  o.per_game = per_game;
  return o;
}

inline std::vector<workers::letta_message> say(const std::string& text) { return {{"user", text, "Alice", ""}}; }

}  // namespace orch::testing
