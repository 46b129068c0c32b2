#include "daemon/readiness.hpp"

#include "daemon/json_codec.hpp"

namespace orch::daemon {

std::string readiness::body(bool& ready) const {
  std::lock_guard lk(mu_);
  ready = letta_ok_ && !stopping_;
  std::string out = std::string("{\"status\":") + (ready ? "\"ready\"" : "\"not_ready\"") +
                    ",\"config\":\"loaded\",\"letta\":" + json_quote(letta_what_) + ",\"missing_agents\":[";
  for (std::size_t i = 0; i < missing_.size(); ++i) out += (i ? "," : "") + json_quote(missing_[i]);
  out += "]";
  if (!redis_what_.empty()) out += ",\"redis\":" + json_quote(redis_what_);
  if (stopping_) out += ",\"stopping\":true";
  return out + "}";
}

}  // namespace orch::daemon
