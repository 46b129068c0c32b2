// libFuzzer target: the router's request-target, query and Content-Type parsing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/http_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view t(reinterpret_cast<const char*>(data), size);
  auto parts = orch::daemon::split_target(t);
  if (parts.query.size() > orch::daemon::max_query_params) __builtin_trap();
  for (const char* k : {"gameId", "since", "wait_ms"})
    if (const auto* v = orch::daemon::query_param(parts, k)) {
      std::uint64_t n = 0;
      (void)orch::daemon::parse_u64(*v, n);
    }
  (void)orch::daemon::is_json_content_type(t);
  (void)orch::daemon::percent_decode(t);
  return 0;
}
