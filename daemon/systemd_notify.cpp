#include "daemon/systemd_notify.hpp"

#include <string>

#include <systemd/sd-daemon.h>

namespace orch::daemon::systemd {

void notify(std::string_view state) { sd_notify(0, std::string(state).c_str()); }

std::optional<std::chrono::microseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec / 2);
}

}  // namespace orch::daemon::systemd
