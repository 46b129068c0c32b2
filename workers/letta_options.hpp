#pragma once
// `letta.*` settings (DESIGN 5.4, 6).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace orch::workers {

enum class letta_backend : std::uint8_t { http, simulated };
// One Letta conversation per (agent, game) (default), or one thread per agent.
enum class letta_conversations : std::uint8_t { per_game, agent };

struct letta_options {
  letta_backend backend = letta_backend::http;
  letta_conversations conversations = letta_conversations::per_game;
  std::string base_url = "http://127.0.0.1:8283";
  std::string token_file;                           // empty = no Authorization header
  std::string token;                                // read from token_file by the loader
  std::chrono::milliseconds timeout{60000};         // write + read of one request
  std::chrono::milliseconds connect_timeout{5000};  // DNS resolution + TCP connect
  std::size_t max_response_bytes = 8u << 20;        // larger answer bodies fail "too_large"
  std::uint32_t max_in_flight = 16;
  double global_per_s = 20;
  double global_burst = 40;
  double per_agent_per_s = 2;  // message calls only
  double sync_share = 0.5;     // of global_per_s, for block syncs while replies wait
  std::uint32_t retry_max_attempts = 5;
  std::chrono::milliseconds retry_base{250};
  std::chrono::milliseconds retry_max{8000};
  std::uint32_t breaker_failure_threshold = 10;
  std::chrono::milliseconds breaker_open{5000};
  std::chrono::milliseconds simulated_latency{300};       // message calls
  std::chrono::milliseconds simulated_block_latency{20};  // block calls, lookups, health
};

}  // namespace orch::workers
