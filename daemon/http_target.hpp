#pragma once
// Request-target and header parsing for the router: splits `/path?k=v&...` into its path and
// percent-decoded query pairs (common/percent_coding), parses unsigned integers strictly, and recognises JSON media
// types. Pure functions over strings: no I/O, no allocation beyond the result, safe on any
// input (hostile targets included; the fuzz target tests/fuzz/http_target_fuzz.cpp drives it).
// Thread-safety: stateless. How it fails: malformed escapes are kept literally; a query
// with more than max_query_params pairs keeps the first ones only.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orch::daemon {

struct target_parts {
  std::string_view path;  // views into the target given to split_target
  std::vector<std::pair<std::string, std::string>> query;
};

inline constexpr std::size_t max_query_params = 32;

target_parts split_target(std::string_view target);
// The first value of `name`, or nullptr.
const std::string* query_param(const target_parts& p, std::string_view name);
// Digits only, no sign, no overflow, not empty.
bool parse_u64(std::string_view s, std::uint64_t& out);
// Content-Type is application/json or text/json (any parameters), or absent.
bool is_json_content_type(std::string_view content_type);

}  // namespace orch::daemon
