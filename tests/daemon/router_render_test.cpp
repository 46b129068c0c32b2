// The snapshot route's pre-rendered 202 (render_accepted) is byte for byte what Beast writes
// for the same answer built as a message (json_response), which every other answer still is.
#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "daemon/router.hpp"

TEST_CASE("render_accepted writes exactly the bytes Beast serializes for json_response(202, body, 11, true)") {
  std::string out = "whatever a previous answer left in the reused string";
  const std::string bodies[] = {R"({"status":"success","gameId":"bench-1","queue":"urgent"})", "",
                                std::string(1000, 'x'), R"({"status":"success","gameId":"g\"\u00e9","queue":"q"})"};
  for (const auto& body : bodies) {
    std::ostringstream beast_bytes;
    beast_bytes << orch::daemon::json_response(202, body, 11, true);
    orch::daemon::render_accepted(body, out);
    CHECK(out == beast_bytes.str());
  }
}
