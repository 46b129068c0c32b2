// libFuzzer target: the original /chat/v3 decoder (DESIGN 3.2), with and without X-Game-Id.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/json_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)orch::daemon::parse_chat_v3(body, "");
  (void)orch::daemon::parse_chat_v3(body, body.substr(0, 300));
  return 0;
}
