// daemon/http_target: the router's pure target/query/content-type parsing.
#include <doctest/doctest.h>

#include "daemon/http_target.hpp"

using namespace orch::daemon;

TEST_CASE("http_target: path and query pairs are split and percent-decoded") {
  auto p = split_target("/letta/v1/events?gameId=g%201&since=12&flag&x=a+b");
  CHECK(p.path == "/letta/v1/events");
  REQUIRE(p.query.size() == 4);
  CHECK(*query_param(p, "gameId") == "g 1");
  CHECK(*query_param(p, "since") == "12");
  CHECK(query_param(p, "flag")->empty());
  CHECK(*query_param(p, "x") == "a b");
  CHECK(query_param(p, "missing") == nullptr);
}

TEST_CASE("http_target: malformed escapes stay literal and never read past the end") {
  CHECK(*query_param(split_target("/?a=%&b=a%2&c=%zz&d=%41%4a"), "a") == "%");
  CHECK(*query_param(split_target("/?a=%&b=a%2&c=%zz&d=%41%4a"), "b") == "a%2");
  CHECK(*query_param(split_target("/?a=%&b=a%2&c=%zz&d=%41%4a"), "c") == "%zz");
  CHECK(*query_param(split_target("/?a=%&b=a%2&c=%zz&d=%41%4a"), "d") == "AJ");
  auto p = split_target("?&&=&");
  CHECK(p.path.empty());
  CHECK(split_target("/x").query.empty());
}

TEST_CASE("http_target: the first value of a repeated key wins, and the pair count is capped") {
  auto p = split_target("/?a=1&a=2");
  CHECK(*query_param(p, "a") == "1");
  std::string many = "/?";
  for (int i = 0; i < 1000; ++i) many += "k" + std::to_string(i) + "=v&";
  CHECK(split_target(many).query.size() == max_query_params);
}

TEST_CASE("http_target: parse_u64 accepts digits only, without overflow") {
  std::uint64_t v = 7;
  CHECK(parse_u64("0", v));
  CHECK(v == 0);
  CHECK(parse_u64("18446744073709551615", v));
  CHECK(v == 18446744073709551615ull);
  CHECK_FALSE(parse_u64("18446744073709551616", v));
  CHECK_FALSE(parse_u64("", v));
  CHECK_FALSE(parse_u64("-1", v));
  CHECK_FALSE(parse_u64("+1", v));
  CHECK_FALSE(parse_u64("12a", v));
  CHECK_FALSE(parse_u64(" 1", v));
}

TEST_CASE("http_target: JSON content types") {
  CHECK(is_json_content_type(""));
  CHECK(is_json_content_type("application/json"));
  CHECK(is_json_content_type("Application/JSON; charset=utf-8"));
  CHECK(is_json_content_type("text/json ;x=y"));
  CHECK_FALSE(is_json_content_type("text/plain"));
  CHECK_FALSE(is_json_content_type("application/jsonx"));
  CHECK_FALSE(is_json_content_type("application/jso"));
  CHECK_FALSE(is_json_content_type("text/jsoN+x"));
  CHECK(is_json_content_type("TEXT/JSON\t"));
}
