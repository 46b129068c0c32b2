#include "workers/json_text.hpp"

#include <algorithm>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace orch::workers {

std::string json_quote(std::string_view s) {
  std::string out;
  json_quote_into(out, s);
  return out;
}

void json_quote_into(std::string& out, std::string_view s) {
  const bool plain = std::none_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c == '"' || c == '\\';
  });
  if (plain) {
    out.reserve(out.size() + s.size() + 2);
    out.append(1, '"').append(s).append(1, '"');
    return;
  }
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  out.append(sb.GetString(), sb.GetSize());
}

}  // namespace orch::workers
