#include "common/address.hpp"

#include <algorithm>
#include <charconv>

namespace orch::common {
namespace {

bool host_char(char c, bool bracketed) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
         c == '_' || (bracketed && c == ':');
}

}  // namespace

std::optional<host_port> parse_host_port(std::string_view s, port_rule rule, std::string& error) {
  host_port out;
  std::string_view host, rest;
  const bool bracketed = !s.empty() && s.front() == '[';
  if (bracketed) {
    const auto close = s.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated [IPv6] host";
      return std::nullopt;
    }
    host = s.substr(1, close - 1);
    rest = s.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') {
      error = "junk after [IPv6] host";
      return std::nullopt;
    }
  } else {
    const auto colon = s.find(':');
    host = s.substr(0, colon);
    if (colon != std::string_view::npos) rest = s.substr(colon);
  }
  if (host.empty()) {
    error = "missing host";
    return std::nullopt;
  }
  if (!std::all_of(host.begin(), host.end(), [&](char c) { return host_char(c, bracketed); })) {
    error = "bad host '" + std::string(host) + "'";
    return std::nullopt;
  }
  out.host = std::string(host);
  if (rest.empty()) {
    if (!rule.default_port) {
      error = "missing :port";
      return std::nullopt;
    }
    out.port = *rule.default_port;
    return out;
  }
  const std::string_view digits = rest.substr(1);  // after the ':'
  unsigned v = 0;
  const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec != std::errc{} || p != digits.data() + digits.size() || v > 65535 || v < rule.min_port) {
    error = "bad port '" + std::string(digits) + "' (expected " + std::to_string(rule.min_port) + "-65535)";
    return std::nullopt;
  }
  out.port = static_cast<std::uint16_t>(v);
  return out;
}

std::string format_host_port(std::string_view host, std::uint16_t port) {
  std::string out;
  const bool v6 = host.find(':') != std::string_view::npos;
  if (v6) out += '[';
  out += host;
  if (v6) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

std::string http_url::prefix() const {
  std::string p = path;
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

std::optional<http_url> parse_http_url(std::string_view url, std::string& error) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme) {
    error = "only http:// URLs are supported";
    return std::nullopt;
  }
  url.remove_prefix(scheme.size());
  const auto slash = url.find('/');
  auto hp = parse_host_port(url.substr(0, slash), port_rule{80, 1}, error);
  if (!hp) return std::nullopt;
  http_url out;
  out.host = std::move(hp->host);
  out.port = hp->port;
  if (slash != std::string_view::npos) out.path = std::string(url.substr(slash));
  for (const char c : out.path)
    if (c == '?' || c == '#' || c == ' ' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      error = "the path may hold no query, fragment, space or control character";
      return std::nullopt;
    }
  return out;
}

bool is_loopback_host(std::string_view h) {
  if (h == "localhost" || h == "::1") return true;
  if (h.substr(0, 4) != "127.") return false;  // 127.0.0.0/8 as a dotted quad
  int dots = 0, digits = 0;
  for (const char c : h) {
    if (c == '.') {
      if (digits == 0) return false;
      ++dots;
      digits = 0;
    } else if (c >= '0' && c <= '9') {
      if (++digits > 3) return false;
    } else {
      return false;
    }
  }
  return dots == 3 && digits > 0;
}

}  // namespace orch::common
