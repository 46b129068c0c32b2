#pragma once
// Percent-coding (RFC 3986 section 2.1): encoding for the path segments and query values the
// Letta clients put in request targets, decoding for the query strings the daemon's router
// reads. Pure; thread-safety: stateless. Neither fails: decoding keeps a malformed escape
// literally, and every byte can be encoded.
#include <string>
#include <string_view>

namespace orch::common {

// Every byte but the unreserved ones (A-Z a-z 0-9 - _ . ~) becomes %XX (upper-case hex).
std::string percent_encode(std::string_view s);

// Form decoding: '+' becomes a space, %XX its byte; a '%' not followed by two hex digits
// stays as it is.
std::string percent_decode(std::string_view s);

}  // namespace orch::common
