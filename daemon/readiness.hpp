#pragma once
// What /readyz reports (DESIGN 3.4): Letta reachable (or simulated), registry agents missing,
// draining. Written by the app, read by the router.
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
  void set_stopping() { stopping_ = true; }
  bool stopping() const { return stopping_; }
  // The /readyz JSON body; `ready` tells 200 from 503.
  std::string body(bool& ready) const;

 private:
  mutable std::mutex mu_;
  bool letta_ok_ = false;
  std::string letta_what_ = "not checked yet";
  std::vector<std::string> missing_;
  std::atomic<bool> stopping_{false};
};

}  // namespace orch::daemon
