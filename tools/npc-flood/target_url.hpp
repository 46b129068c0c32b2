#pragma once
// npc-flood's --target / --metrics-url: an http:// URL (parsed by common/address) and the
// loopback-only rule: npc-flood is a load generator and refuses to aim at anything but this
// machine. Pure code, header-only for the tests.
//
// Thread-safety: plain functions. Failure: parse_target returns std::nullopt and sets `error`.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/address.hpp"

namespace orch::tools {

struct target_url {
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 80;
  std::string path;  // "" when the URL has none
  std::string host_header() const { return common::format_host_port(host, port); }
};

using common::is_loopback_host;

// "http://HOST[:PORT][/path]" with HOST a name, an IPv4 address or [IPv6], on this machine.
inline std::optional<target_url> parse_target(std::string_view url, std::string& error) {
  auto u = common::parse_http_url(url, error);
  if (!u) return std::nullopt;
  if (!is_loopback_host(u->host)) {
    error = "refusing non-loopback target host '" + u->host + "' (only 127.0.0.1, localhost, ::1)";
    return std::nullopt;
  }
  return target_url{std::move(u->host), u->port, std::move(u->path)};
}

}  // namespace orch::tools
