// libFuzzer target: the snapshot decoder (POST /letta/v1/snapshot/game bodies, DESIGN 3.1).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/json_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)orch::daemon::parse_snapshot(body, "");
  (void)orch::daemon::parse_snapshot(body, body.substr(0, 300));  // hostile X-Game-Id too
  return 0;
}
