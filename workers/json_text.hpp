#pragma once
// JSON text helpers shared by everything that builds bodies by hand (events, Letta bodies,
// HTTP answers). Pure functions.
#include <string>
#include <string_view>

namespace orch::workers {

// A JSON string literal, quotes included, escaped by RapidJSON's writer.
std::string json_quote(std::string_view s);

// The same literal appended to `out`. A string with nothing to escape (no quote, backslash or
// control character: RapidJSON's writer passes every other byte through) is copied as it is,
// without the writer. `s` must not point into `out`.
void json_quote_into(std::string& out, std::string_view s);

}  // namespace orch::workers
