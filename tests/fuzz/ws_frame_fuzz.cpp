// libFuzzer target: WebSocket text frames from clients (snapshot / chat, DESIGN 3.3).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/json_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto p = orch::daemon::parse_ws_frame(std::string_view(reinterpret_cast<const char*>(data), size));
  if (auto* e = std::get_if<orch::daemon::codec_error>(&p)) (void)orch::daemon::error_body(*e);
  return 0;
}
