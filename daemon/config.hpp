#pragma once
// The whole configuration tree: plain structs declared by each part, filled and validated
// by config_loader in one place. Immutable once loaded; shared as shared_ptr<const config>.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "policies/conversation_options.hpp"
#include "queues/queue_config.hpp"
#include "workers/letta_options.hpp"
#include "workers/redis_options.hpp"
#include "workers/world_options.hpp"
#include "workers/world_registry.hpp"

namespace orch::daemon {

struct server_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string auth_token_file;  // empty = no auth
  std::string auth_token;       // read from auth_token_file by the loader
  std::size_t max_body_bytes = 1 << 20;
  std::chrono::milliseconds drain_timeout{5000};
  std::chrono::milliseconds read_timeout{30000};    // idle keep-alive / slow-body limit
  std::chrono::milliseconds header_timeout{10000};  // a request's headers, from its first byte wanted
  std::chrono::milliseconds shutdown_flush{1000};   // after the drain: time to deliver the last events
  std::uint32_t threads = 2;                        // io threads
  std::uint32_t max_connections = 10000;
  std::uint32_t max_connections_per_ip = 512;
  std::size_t ws_outbound_max = 4096;  // queued frames before a slow client is cut
  std::size_t ws_max_message_bytes = 1 << 20;
};

struct events_options {
  std::size_t replay_capacity = 4096;          // events kept per game for resumption
  std::size_t replay_bytes = 64 * 1024;        // ...and at most this many bytes (event_hub::bytes_of)
  std::size_t max_games = 1024;                // games tracked at once (events, world, conversations)
  std::chrono::seconds game_idle{300};         // a game without subscribers or activity this long may be evicted
  std::size_t max_subscribers_per_game = 256;  // WebSocket clients plus waiting long-polls
  std::chrono::milliseconds max_wait{30000};   // cap on a long-poll's wait_ms
};

// The allocator (daemon/app_memory): read at boot only.
struct memory_options {
  std::uint32_t arena_max = 0;                     // malloc arenas; 0 = glibc's default (8 x cores)
  std::chrono::milliseconds trim_interval{0};      // malloc_trim(0) period; 0 = never
  std::chrono::milliseconds stats_interval{5000};  // heap gauges' sampling period; 0 = at start only
};

struct config {
  std::string source_path;  // the YAML file it came from ("" for defaults)
  server_options server;
  queues::queues_config queues = queues::queues_config::defaults();
  workers::world_options world;
  policies::conversation_options conversation;
  workers::letta_options letta;
  events_options events;
  memory_options memory;
  workers::redis_options redis;  // DESIGN 10: shared by several daemons; empty url = alone
  std::shared_ptr<const workers::world_registry> registry = std::make_shared<workers::world_registry>();
};

}  // namespace orch::daemon
