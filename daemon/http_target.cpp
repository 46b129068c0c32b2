#include "daemon/http_target.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/percent_coding.hpp"

namespace orch::daemon {

target_parts split_target(std::string_view t) {
  target_parts p;
  auto q = t.find('?');
  p.path = t.substr(0, q);
  if (q == std::string_view::npos) return p;
  std::string_view rest = t.substr(q + 1);
  while (!rest.empty() && p.query.size() < max_query_params) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    auto eq = kv.find('=');
    p.query.emplace_back(common::percent_decode(kv.substr(0, eq)),
                         eq == std::string_view::npos ? std::string() : common::percent_decode(kv.substr(eq + 1)));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return p;
}

const std::string* query_param(const target_parts& p, std::string_view name) {
  for (auto& [k, v] : p.query)
    if (k == name) return &v;
  return nullptr;
}

bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool is_json_content_type(std::string_view ct) {
  if (ct.empty()) return true;  // Lua's HttpService may omit it; the body is parsed as JSON.
  auto semi = ct.find(';');
  std::string_view media = ct.substr(0, semi);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  auto is = [media](std::string_view expected) {  // expected: lower case
    return media.size() == expected.size() &&
           std::equal(media.begin(), media.end(), expected.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) == static_cast<unsigned char>(b);
           });
  };
  return is("application/json") || is("text/json");
}

}  // namespace orch::daemon
