#pragma once
// sd_notify for Type=notify units: READY, RELOADING, STOPPING, and WATCHDOG pings when the
// unit sets WatchdogSec. Harmless without systemd (NOTIFY_SOCKET unset: every call no-ops).
#include <chrono>
#include <optional>
#include <string_view>

namespace orch::daemon::systemd {

void notify(std::string_view state);  // e.g. "READY=1"
// The interval at which to ping the watchdog (half of WatchdogSec), when one is enabled.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace orch::daemon::systemd
