#pragma once
// `conversation.*` and `chat.*` settings (DESIGN 5.3, 6).
#include <chrono>
#include <cstdint>

namespace orch::policies {

struct conversation_options {
  std::uint32_t max_responders = 2;
  std::chrono::seconds npc_cooldown{5};
  std::uint32_t max_concurrent_speakers = 1;
  std::uint32_t max_npc_chain = 2;  // 0 = NPCs never answer NPCs
  std::chrono::seconds entry_notice_cooldown{30};
  std::chrono::milliseconds notice_delay{1000};
  std::chrono::seconds turn_timeout{10};
  std::uint32_t player_turns_per_min = 30;
  std::chrono::milliseconds sync_wait{8000};  // chat.sync_wait_ms
  std::uint32_t max_jobs_per_game = 512;      // reply jobs (queued, parked, in Letta) per game
};

}  // namespace orch::policies
