// libFuzzer target: the router's request-target, query and Content-Type parsing, and the
// common/ address parser and percent-coding.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/address.hpp"
#include "common/percent_coding.hpp"
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
  // One percent-coding for the whole project: decoding what was encoded gives the input back.
  if (orch::common::percent_decode(orch::common::percent_encode(t)) != t) __builtin_trap();
  std::string error;
  if (auto u = orch::common::parse_http_url(t, error))
    if (u->host.empty() || u->port == 0) __builtin_trap();
  if (auto hp = orch::common::parse_host_port(t, orch::common::port_rule{std::nullopt, 0}, error))
    if (hp->host.empty()) __builtin_trap();
  return 0;
}
