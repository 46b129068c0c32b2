// letta_http's base URL: host, port, prefix and the Host header it sends (an IPv6 host in
// brackets, RFC 9110 7.2). Pure parsing; the transport itself is tested in tests/integration/.
#include <doctest/doctest.h>

#include <stdexcept>

#include "workers/letta_http.hpp"

using orch::workers::parse_base_url;

TEST_CASE("letta_http: base URL - the Host header brackets an IPv6 host") {
  const auto v6 = parse_base_url("http://[::1]:8283/api/");
  CHECK(v6.host == "::1");  // as the resolver wants it
  CHECK(v6.port == "8283");
  CHECK(v6.prefix == "/api");
  CHECK(v6.authority == "[::1]:8283");
  const auto v6_full = parse_base_url("http://[2001:db8::7]:80");
  CHECK(v6_full.authority == "[2001:db8::7]:80");
  const auto v4 = parse_base_url("http://127.0.0.1:8283");
  CHECK(v4.authority == "127.0.0.1:8283");
  CHECK(v4.prefix.empty());
  const auto named = parse_base_url("http://letta.internal");
  CHECK(named.authority == "letta.internal:80");
  CHECK_THROWS_AS(parse_base_url("https://letta.example"), std::invalid_argument);
}
