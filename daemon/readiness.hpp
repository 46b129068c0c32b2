#pragma once
// What /readyz reports (DESIGN 3.4, 10): Letta reachable (or simulated), registry agents
// missing, draining, and the shared Redis when one is configured (down is degraded, not
// unready: the daemon keeps serving with local limits). Written by the app, read by the router.
// Thread-safety: every member may be called from any thread (one mutex, one atomic).
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

namespace orch::daemon {

class readiness {
 public:
  void set_letta(bool ok, std::string what) {
    std::lock_guard lk(mu_);
    letta_ok_ = ok;
    letta_what_ = std::move(what);
  }
  void set_missing_agents(std::vector<std::string> m) {
    std::lock_guard lk(mu_);
    missing_ = std::move(m);
  }
  // "" = no Redis configured (not reported); else "up" or a description of the fallback.
  void set_redis(std::string what) {
    std::lock_guard lk(mu_);
    redis_what_ = std::move(what);
  }
  void set_stopping() { stopping_ = true; }
  bool stopping() const { return stopping_; }
  // The /readyz JSON body; `ready` tells 200 from 503.
  std::string body(bool& ready) const;

 private:
  mutable std::mutex mu_;
  bool letta_ok_ = false;
  std::string letta_what_ = "not checked yet";
  std::vector<std::string> missing_;
  std::string redis_what_;
  std::atomic<bool> stopping_{false};
};

}  // namespace orch::daemon
