#include "policies/retry_backoff.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

namespace orch::policies {

duration backoff_ceiling(const backoff_options& o, std::uint32_t attempt) {
  if (attempt == 0) attempt = 1;
  duration d = o.base;
  for (std::uint32_t i = 1; i < attempt && d < o.max; ++i) d *= 2;
  return std::min(d, o.max);
}

duration backoff_delay(const backoff_options& o, std::uint32_t attempt, double unit_random,
                       std::optional<duration> retry_after) {
  const double u = std::clamp(unit_random, 0.0, 1.0);
  const auto ceiling = backoff_ceiling(o, attempt);
  auto d = duration(static_cast<duration::rep>(std::floor(static_cast<double>(ceiling.count()) * u)));
  if (retry_after) d = std::max(d, std::clamp(*retry_after, duration::zero(), o.retry_after_cap));
  return d;
}

static bool pending_approval(std::string_view body) {
  if (body.find("PENDING_APPROVAL") == std::string_view::npos) return false;
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  auto detail = doc.FindMember("detail");
  if (detail == doc.MemberEnd() || !detail->value.IsObject()) return false;
  auto code = detail->value.FindMember("code");
  return code != detail->value.MemberEnd() && code->value.IsString() &&
         std::string_view(code->value.GetString(), code->value.GetStringLength()) == "PENDING_APPROVAL";
}

bool is_retryable(int http_status, std::string_view body) {
  if (http_status == 0) return true;
  if (http_status == 408 || http_status == 429) return true;
  if (http_status == 409) return !pending_approval(body);
  return http_status >= 500 && http_status <= 599;
}

std::optional<duration> parse_retry_after(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  double secs = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), secs);
  if (ec != std::errc() || p != v.data() + v.size() || !(secs >= 0) || secs > 1e6) return std::nullopt;
  return std::chrono::duration_cast<duration>(std::chrono::duration<double>(secs));
}

}  // namespace orch::policies
