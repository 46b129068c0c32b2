#pragma once
// One-line logs to stderr (journald adds its own timestamps under systemd). The daemon logs
// at startup, reload, shutdown and on rare failures; the data path counts instead of logging.
#include <cstdio>
#include <string_view>

namespace orch::daemon {

enum class log_level { info, warn, error };

inline void log(log_level lvl, std::string_view msg) {
  const char* tag = lvl == log_level::info ? "info" : lvl == log_level::warn ? "warn" : "error";
  std::fprintf(stderr, "npc-orchestratord %s: %.*s\n", tag, static_cast<int>(msg.size()), msg.data());
  std::fflush(stderr);
}

}  // namespace orch::daemon
