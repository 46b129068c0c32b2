#pragma once
// The snapshot fast path (DESIGN 3.1, 9): simdjson's DOM parser (SIMD, validating the whole
// body: UTF-8, numbers, structure, nesting) and one walk of its tape straight into a
// workers::snapshot, checking the schema as it goes. No field paths, no per-entity allocation
// for the usual short names and strings (they fit std::string's small buffer); the parser's
// buffers and the padded copy of the body are reused per thread. A body whose buffer has
// `snapshot_body_padding` readable bytes after its end (the HTTP server reserves them when the
// headers come in) is parsed where it was read, without that copy.
//
// It accepts only bodies json_codec's reference decoder accepts and then produces the same
// snapshot. Anything it does not handle itself returns false: every error (syntax, depth,
// shape), a body with a duplicate key the schema reads, a missing required field, and what
// simdjson is stricter about (integers beyond 64 bits, lone surrogate escapes). The caller then
// runs the reference decoder, which builds the error message with its field path, so errors
// stay exactly as before and only the common good body takes this path.
//
// `out` may hold an earlier snapshot (snapshot_pool refills one in place): on success every
// field is overwritten — vectors resized to the new counts, each element's strings assigned
// (keeping their buffers) and every optional set or reset — so nothing of the earlier one stays.
//
// Thread-safety: a pure function of its input (per-thread scratch only). How it fails: it
// returns false and leaves `out` in an unspecified (but valid, reusable) state.
#include <cstddef>
#include <string_view>

#include "workers/snapshot.hpp"

namespace orch::daemon {

// Readable bytes simdjson needs after a body to parse it in place (SIMDJSON_PADDING; their
// content does not matter, they must only be allocated).
inline constexpr std::size_t snapshot_body_padding = 64;

// `readable_after`: how many allocated bytes follow `body` in its buffer (0 when unknown); with
// at least snapshot_body_padding the body is parsed in place, else through a padded copy.
bool read_snapshot_fast(std::string_view body, std::string_view header_game_id, workers::snapshot& out,
                        std::size_t readable_after = 0);

}  // namespace orch::daemon
