#pragma once
// The application: owns the config, clock, metrics, io_context, queues, workers, Letta
// client and HTTP server; starts them in order and stops them in reverse (STYLE "Shutdown
// and ownership"). main() builds one and calls run().
//
// Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the YAML (queues and auth apply
// at once; an invalid file is refused with the errors logged and the old config kept).
// Thread-safety: run() blocks the calling thread and uses server.threads io threads.
#include <memory>
#include <string>
#include <vector>

#include "daemon/config.hpp"

namespace orch::daemon {

class app {
 public:
  app(config cfg, std::vector<std::string> set_overrides);
  ~app();
  app(const app&) = delete;
  app& operator=(const app&) = delete;

  // Serves until SIGTERM/SIGINT, then drains; returns the process exit code.
  int run();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace orch::daemon
