#pragma once
// `redis.*` settings (DESIGN 6, 10): the Redis several daemons share. An empty url means this
// daemon runs alone (local limits, no shared conversation map).
#include <chrono>
#include <string>

namespace orch::workers {

struct redis_options {
  std::string url;                         // redis://host:port[/db]; empty = no Redis
  std::string key_prefix = "npcorch:";     // every key the daemon writes starts with it
  std::chrono::milliseconds timeout{500};  // connect and per-command timeout
};

}  // namespace orch::workers
