#pragma once
// The snapshot fast path (DESIGN 3.1, 9): one SAX pass of RapidJSON's Reader over the body,
// straight into a workers::snapshot, validating as it goes. No DOM, no field paths, no
// per-entity allocation for the usual short names and strings (they fit std::string's small
// buffer); the Reader's stack is reused per thread.
//
// It accepts exactly the bodies json_codec's reference decoder accepts and produces the same
// snapshot. Anything it does not handle itself returns false: every error (syntax, depth,
// shape), a body with a duplicate key the schema reads, a missing required field. The caller
// then runs the reference decoder, which builds the error message with its field path, so
// errors stay exactly as before and only the common good body takes this path.
//
// Thread-safety: a pure function of its input (per-thread scratch only). How it fails: it
// returns false and leaves `out` in an unspecified state.
#include <string_view>

#include "workers/snapshot.hpp"

namespace orch::daemon {

bool read_snapshot_fast(std::string_view body, std::string_view header_game_id, workers::snapshot& out);

}  // namespace orch::daemon
