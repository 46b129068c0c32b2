#pragma once
// Settings of the named queues and of the routes from message kind to queue.
// Plain values; daemon/config_loader fills them from YAML and validates them.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orch::queues {

enum class overflow_policy : std::uint8_t { reject, shed_oldest };

// The kinds of work the daemon routes. The names are the YAML `routes.<kind>` keys.
enum class message_kind : std::uint8_t { snapshot, chat_turn, npc_reply, system_notice, memory_sync };
inline constexpr std::size_t message_kind_count = 5;
inline constexpr std::array<std::string_view, message_kind_count> message_kind_names{
    "snapshot", "chat_turn", "npc_reply", "system_notice", "memory_sync"};
inline std::string_view to_string(message_kind k) { return message_kind_names[static_cast<std::size_t>(k)]; }
inline std::optional<message_kind> message_kind_from(std::string_view name) {
  for (std::size_t i = 0; i < message_kind_count; ++i)
    if (message_kind_names[i] == name) return static_cast<message_kind>(i);
  return std::nullopt;
}

struct queue_config {
  std::string name;
  std::chrono::milliseconds max_latency{500};  // budget from arrival to start of work
  std::uint32_t workers = 1;                   // messages of this queue worked on at once
  std::size_t capacity = 10000;                // exact bound on queued (not yet started) messages
  overflow_policy overflow = overflow_policy::reject;
};

struct queues_config {
  std::vector<queue_config> queues;  // in YAML order
  // routes[kind] is an index into `queues`.
  std::array<std::size_t, message_kind_count> routes{};

  const queue_config& route(message_kind k) const { return queues[routes[static_cast<std::size_t>(k)]]; }
  std::optional<std::size_t> index_of(std::string_view name) const {
    for (std::size_t i = 0; i < queues.size(); ++i)
      if (queues[i].name == name) return i;
    return std::nullopt;
  }
  // The seed's defaults: urgent 500 ms / 5, conversation 2000 ms / 3, background 30 s / 1.
  static queues_config defaults() {
    queues_config c;
    c.queues = {{"urgent", std::chrono::milliseconds(500), 5, 10000, overflow_policy::reject},
                {"conversation", std::chrono::milliseconds(2000), 3, 5000, overflow_policy::shed_oldest},
                {"background", std::chrono::milliseconds(30000), 1, 20000, overflow_policy::shed_oldest}};
    c.routes = {0, 0, 1, 1, 2};  // snapshot, chat_turn -> urgent; npc_reply, system_notice ->
                                 // conversation; memory_sync -> background
    return c;
  }
};

}  // namespace orch::queues
