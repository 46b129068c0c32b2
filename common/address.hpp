#pragma once
// Addresses as the project writes them: "host:port" (server.listen, fake-letta --listen) and
// "http://host[:port][/path]" (letta.base_url, npc-flood --target/--metrics-url). One parser
// for the daemon, the Letta HTTP client and the tools. Hosts are names, IPv4 addresses or
// "[IPv6]" (brackets removed in the result, added back by format_host_port).
//
// Pure functions over strings (no I/O, no name resolution). Thread-safety: stateless. How it
// fails: returns std::nullopt and sets `error` to a short phrase naming what is wrong.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace orch::common {

struct host_port {
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 0;
};

struct port_rule {
  std::optional<std::uint16_t> default_port;  // nullopt: the port is required
  std::uint16_t min_port = 1;                 // 0 lets "pick a free port" through
};

// "host:port", "[v6]:port", or "host" alone when rule.default_port is set. The host may hold
// letters, digits, '.', '-', '_' (and ':' inside brackets); the port is decimal digits only.
std::optional<host_port> parse_host_port(std::string_view s, port_rule rule, std::string& error);

// "host:port", with brackets around an IPv6 host: the form of a Host header or a log line.
std::string format_host_port(std::string_view host, std::uint16_t port);

struct http_url {
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 80;
  std::string path;  // as written after the authority ("" or starting with '/')
  // The path without trailing '/': a prefix to put in front of request targets.
  std::string prefix() const;
};

// "http://host[:port][/path]": port 1..65535 (default 80); the path may hold no '?', '#',
// space or control character (a base URL, not a request).
std::optional<http_url> parse_http_url(std::string_view url, std::string& error);

// localhost, ::1 or a dotted quad in 127.0.0.0/8.
bool is_loopback_host(std::string_view host);

}  // namespace orch::common
