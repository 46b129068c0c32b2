// common/address and common/percent_coding: the one parser of host:port and http:// URLs, and
// the one percent-coding, shared by the daemon, the Letta client and the tools.
#include <doctest/doctest.h>

#include <string>

#include "common/address.hpp"
#include "common/percent_coding.hpp"

using namespace orch::common;

TEST_CASE("parse_host_port: names, IPv4 and [IPv6], the port rule, and named errors") {
  std::string err;
  const port_rule required{std::nullopt, 0};
  auto a = parse_host_port("127.0.0.1:8080", required, err);
  REQUIRE(a);
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 8080);
  auto v6 = parse_host_port("[::1]:0", required, err);
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 0);  // min_port 0: "pick a free port"
  auto dflt = parse_host_port("letta.internal", port_rule{80, 1}, err);
  REQUIRE(dflt);
  CHECK(dflt->port == 80);

  CHECK_FALSE(parse_host_port("letta.internal", required, err));
  CHECK(err == "missing :port");
  CHECK_FALSE(parse_host_port(":80", required, err));
  CHECK(err == "missing host");
  CHECK_FALSE(parse_host_port("[::1:80", required, err));
  CHECK(err == "unterminated [IPv6] host");
  CHECK_FALSE(parse_host_port("[::1]80", required, err));
  CHECK(err == "junk after [IPv6] host");
  CHECK_FALSE(parse_host_port("ho st:80", required, err));
  CHECK(err == "bad host 'ho st'");
  CHECK_FALSE(parse_host_port("::1:80", required, err));  // IPv6 needs its brackets
  CHECK_FALSE(parse_host_port("h:", required, err));
  CHECK(err.rfind("bad port ''", 0) == 0);
  for (const char* bad : {"h:65536", "h:-1", "h:+1", "h:8o", "h:80:81", "h: 80"}) {
    CHECK_FALSE_MESSAGE(parse_host_port(bad, required, err), bad);
    CHECK(err.rfind("bad port", 0) == 0);
  }
  CHECK_FALSE(parse_host_port("h:0", port_rule{std::nullopt, 1}, err));
  CHECK(err == "bad port '0' (expected 1-65535)");
  CHECK(parse_host_port("h:65535", required, err)->port == 65535);
}

TEST_CASE("format_host_port: brackets around IPv6 only") {
  CHECK(format_host_port("127.0.0.1", 80) == "127.0.0.1:80");
  CHECK(format_host_port("::1", 9000) == "[::1]:9000");
  CHECK(format_host_port("letta", 8283) == "letta:8283");
}

TEST_CASE("parse_http_url: http only, default port 80, the path kept, its prefix without trailing slashes") {
  std::string err;
  auto u = parse_http_url("http://letta.internal:9000/api/", err);
  REQUIRE(u);
  CHECK(u->host == "letta.internal");
  CHECK(u->port == 9000);
  CHECK(u->path == "/api/");
  CHECK(u->prefix() == "/api");
  auto bare = parse_http_url("http://localhost", err);
  REQUIRE(bare);
  CHECK(bare->port == 80);
  CHECK(bare->path.empty());
  CHECK(bare->prefix().empty());
  auto v6 = parse_http_url("http://[::1]:9000/metrics", err);
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->path == "/metrics");
  CHECK(parse_http_url("http://h//", err)->prefix().empty());

  CHECK_FALSE(parse_http_url("https://h:443", err));
  CHECK(err == "only http:// URLs are supported");
  CHECK_FALSE(parse_http_url("HTTP://h", err));
  CHECK_FALSE(parse_http_url("http://", err));
  CHECK(err == "missing host");
  CHECK_FALSE(parse_http_url("http://h:0", err));  // a URL names a real port
  CHECK_FALSE(parse_http_url("http://h:99999", err));
  for (const char* bad : {"http://h/a?b=1", "http://h/a#x", "http://h/a b", "http://h/a\nb"}) {
    CHECK_FALSE_MESSAGE(parse_http_url(bad, err), bad);
    CHECK(err.find("path") != std::string::npos);
  }
}

TEST_CASE("is_loopback_host: localhost, ::1 and 127.0.0.0/8 as a dotted quad, nothing else") {
  for (const char* h : {"localhost", "::1", "127.0.0.1", "127.1.2.3", "127.255.255.255"})
    CHECK_MESSAGE(is_loopback_host(h), h);
  for (const char* h : {"10.1.2.3", "example.com", "127.0.0.1.evil.com", "127.0.0", "127..0.1", "127.0.0.1.",
                        "127.0.0.1234", "", "::2", "LOCALHOST.evil"})
    CHECK_FALSE_MESSAGE(is_loopback_host(h), h);
}

TEST_CASE("percent_encode: unreserved bytes kept, every other byte as upper-case %XX") {
  CHECK(percent_encode("agent-1b4e_x.y~Z9") == "agent-1b4e_x.y~Z9");
  CHECK(percent_encode("a b/c?d&e=f+g%") == "a%20b%2Fc%3Fd%26e%3Df%2Bg%25");
  CHECK(percent_encode(std::string("\x00\xff", 2)) == "%00%FF");
  CHECK(percent_encode("").empty());
}

TEST_CASE("percent_decode: '+' is a space, %XX its byte, malformed escapes stay literal") {
  CHECK(percent_decode("g%201+x") == "g 1 x");
  CHECK(percent_decode("%41%4a") == "AJ");
  CHECK(percent_decode("%00").size() == 1);
  CHECK(percent_decode("%") == "%");
  CHECK(percent_decode("a%2") == "a%2");
  CHECK(percent_decode("%zz") == "%zz");
  CHECK(percent_decode("%4") == "%4");  // never reads past the end
  // Decoding what was encoded gives the input back, '+' and '%' included.
  for (const std::string& s : {std::string("a b+c%d"), std::string("agent-x/ü"), std::string("\x01\x7f", 2)})
    CHECK(percent_decode(percent_encode(s)) == s);
}
