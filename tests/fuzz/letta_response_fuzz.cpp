// libFuzzer target: the Letta response decoders (messages reply, block value, request bodies
// fake-letta parses).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "workers/letta_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  orch::workers::letta_reply reply;
  (void)orch::workers::parse_letta_response(body, reply);
  (void)orch::workers::parse_block_value(body);
  (void)orch::workers::parse_messages_body(body);
  (void)orch::workers::parse_block_update_body(body);
  return 0;
}
