// json_quote / json_quote_into: the plain-string shortcut writes what RapidJSON's writer writes.
#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>

#include "workers/json_text.hpp"

using orch::workers::json_quote;
using orch::workers::json_quote_into;

namespace {

std::string writer_quote(const std::string& s) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace

TEST_CASE("json_text: every string quotes as RapidJSON's writer quotes it") {
  const std::string cases[] = {"",
                               "bench-12",
                               "a game id longer than the small string buffer",
                               "Zoë — café ☕",
                               "say \"hi\"",
                               "back\\slash",
                               std::string("nul\0byte", 8),
                               "tab\tnew\nline\r",
                               "\x1f\x7f/",
                               "</script>"};
  for (const auto& s : cases) {
    CAPTURE(s);
    CHECK(json_quote(s) == writer_quote(s));
    std::string out = "prefix:";
    json_quote_into(out, s);
    CHECK(out == "prefix:" + writer_quote(s));
    // And it reads back as the string it was made from.
    rapidjson::Document d;
    d.Parse(json_quote(s).c_str(), json_quote(s).size());
    REQUIRE_FALSE(d.HasParseError());
    CHECK(std::string(d.GetString(), d.GetStringLength()) == s);
  }
}
