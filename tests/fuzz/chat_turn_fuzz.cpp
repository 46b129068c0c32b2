// libFuzzer target: the chat-turn decoder (POST /letta/v1/chat/turn, DESIGN 3.2).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/json_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)orch::daemon::parse_chat_turn(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
