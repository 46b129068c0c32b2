#pragma once
// Parsing of the --target / --metrics-url URLs, and the loopback-only rule: npc-flood is a
// load generator and refuses to aim at anything but this machine. Pure code, header-only
// for the tests.
//
// Thread-safety: plain functions. Failure: parse_target returns std::nullopt and sets `error`.
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace orch::tools {

struct target_url {
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 80;
  std::string path;  // "" when the URL has none
  std::string host_header() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
};

inline bool is_loopback_host(std::string_view h) {
  if (h == "localhost" || h == "::1") return true;
  // 127.0.0.0/8, dotted quad
  if (h.substr(0, 4) != "127.") return false;
  int dots = 0;
  for (char c : h) {
    if (c == '.')
      ++dots;
    else if (c < '0' || c > '9')
      return false;
  }
  return dots == 3;
}

// "http://HOST[:PORT][/path]" with HOST a name, an IPv4 address or [IPv6].
inline std::optional<target_url> parse_target(std::string_view url, std::string& error) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme) {
    error = "only http:// URLs are supported";
    return std::nullopt;
  }
  url.remove_prefix(scheme.size());
  target_url t;
  const auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  t.path = slash == std::string_view::npos ? "" : std::string(url.substr(slash));
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated [IPv6] host";
      return std::nullopt;
    }
    t.host = std::string(authority.substr(1, close - 1));
    auto rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        error = "junk after [IPv6] host";
        return std::nullopt;
      }
      port = rest.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    t.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (t.host.empty()) {
    error = "missing host";
    return std::nullopt;
  }
  if (!port.empty() || authority.find(':') != std::string_view::npos) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc{} || p != port.data() + port.size() || v == 0 || v > 65535) {
      error = "bad port '" + std::string(port) + "'";
      return std::nullopt;
    }
    t.port = static_cast<std::uint16_t>(v);
  }
  if (!is_loopback_host(t.host)) {
    error = "refusing non-loopback target host '" + t.host + "' (only 127.0.0.1, localhost, ::1)";
    return std::nullopt;
  }
  return t;
}

}  // namespace orch::tools
