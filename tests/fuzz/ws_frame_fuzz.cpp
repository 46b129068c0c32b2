// libFuzzer target: WebSocket text frames from clients (snapshot / chat, DESIGN 3.3).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/json_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto p = orch::daemon::parse_ws_frame(body);
  if (auto* e = std::get_if<orch::daemon::codec_error>(&p)) (void)orch::daemon::error_body(*e);
  // The upgrade's X-Game-Id (DESIGN 10) is the client's too: a hostile one.
  auto h = orch::daemon::parse_ws_frame(body, body.substr(0, 300));
  if (auto* e = std::get_if<orch::daemon::codec_error>(&h)) (void)orch::daemon::error_body(*e);
  return 0;
}
