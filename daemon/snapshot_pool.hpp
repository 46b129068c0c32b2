#pragma once
// A small bounded pool of parsed snapshots (issue 11: a steady-state snapshot path that
// allocates nothing per entity). The snapshot route takes a workers::snapshot from here,
// read_snapshot_fast refills it in place (vectors and strings keep their buffers) and it travels
// the urgent queue as the message payload; the shared_ptr's deleter brings it back from whatever
// thread drops the last reference (usually the snapshot worker after applying it), so an object
// is refilled only once nobody holds it.
//
// Bounded twice: at most `keep` objects wait here, and an object whose buffers hold more than
// `max_kept_bytes` (one body of many entities) is deleted rather than kept, so the pool never
// holds more than keep * max_kept_bytes. Beyond that, objects are deleted as before the pool.
//
// Ownership: the router owns one pool; every snapshot it hands out shares the free list, which
// lives until the last of them is gone (a snapshot may outlive the router in a queue).
// Thread-safety: take(), parse() and the deleters may run on any thread concurrently (one mutex
// around the free list; the mutex also orders the last holder's reads before the next fill).
// How it fails: it does not; parse() answers the reference decoder's error for a bad body.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "daemon/json_codec.hpp"
#include "workers/snapshot.hpp"

namespace orch::daemon {

class snapshot_pool {
 public:
  // Snapshots out at once: about one queued per game (newer ones coalesce into it) plus the ones
  // being applied and parsed. The free list only absorbs the difference between releases (worker
  // threads) and takes (io threads) — a burst of a round of games; 64 covers a round of the
  // walking bench's 64 games and caps the kept memory at 64 * max_kept_bytes = 16 MB.
  static constexpr std::size_t default_keep = 64;
  // A ~30 KB body of 100 entities fills ~40 KB of buffers; a snapshot holding more than this is
  // deleted when dropped (a rare huge body must not pin its memory in the pool).
  static constexpr std::size_t max_kept_bytes = 256 * 1024;

  explicit snapshot_pool(std::size_t keep = default_keep);

  // A snapshot to fill: a kept one (its content is an earlier snapshot's, or half of one) or a
  // new one. Dropping the last reference brings it back here (its size is then measured there:
  // parse() measures it right after the fill instead, which is cheaper).
  std::shared_ptr<workers::snapshot> take();

  // parse_snapshot's answer, the good body parsed in place into a snapshot of this pool, which
  // must not be changed afterwards (its size for the pool is measured here). Errors
  // (and the rare good body the fast path leaves to the reference decoder) are exactly
  // parse_snapshot_reference's.
  parsed<std::shared_ptr<workers::snapshot>> parse(std::string_view body, std::string_view header_game_id,
                                                   std::size_t readable_after = 0);

  struct counts {
    std::uint64_t reused = 0;   // take() answered with a kept snapshot
    std::uint64_t made = 0;     // take() allocated a new one
    std::uint64_t deleted = 0;  // dropped snapshots deleted: the pool was full, or too big
    std::size_t kept = 0;       // waiting in the pool now
  };
  counts stats() const;

  // The heap bytes a snapshot's buffers hold (vectors' capacity, strings past their small buffer).
  static std::size_t heap_bytes(const workers::snapshot& s);

 private:
  static constexpr std::size_t unknown_bytes = static_cast<std::size_t>(-1);
  class shelf;
  struct returner;
  std::shared_ptr<shelf> shelf_;
};

}  // namespace orch::daemon
