#pragma once
// The memory-sync worker (DESIGN 5.2): the handler of message_kind::memory_sync (payload
// std::shared_ptr<workers::sync_mailbox::letter>, key = agent id or Letta lane; the sync takes
// the letter's newest request when it starts). For each of the
// NPC's two blocks it GETs the block (only when the agent ran a step since the daemon last
// wrote it, or nothing is known: otherwise the block still holds the daemon's text and the
// read is skipped, counted in npcorch_letta_block_reads_skipped_total), merges what the NPC's agent wrote itself
// (notes, keys the daemon does not own, non-JSON text), and PATCHes it unless the content is unchanged (timestamps
// aside) and the request is not forced. Then it tells the block_synced listeners which members the NPC's group_members
// block now lists, and completes.
//
// Ownership: the app owns one memory_sync_worker; it remembers, per Letta lane (agent, or
// agent and game in per_game mode, letta_client::lane_key), the hashes of what
// it last wrote (to tell NPC edits from its own text). Thread-safety: handle() may run on any
// io thread (one sync per agent at a time, by the dispatcher's per-key order); the hash table
// is locked. Listeners are registered before start and run on the Letta client's callback
// thread. How it fails: a GET or PATCH that finally fails ends the sync (counted in
// npcorch_memory_sync_failures_total) and marks the NPC for a retry at its next snapshot.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/metrics.hpp"
#include "policies/clock.hpp"
#include "queues/dispatcher.hpp"
#include "workers/cluster_diff.hpp"
#include "workers/game_state.hpp"
#include "workers/letta_client.hpp"

namespace orch::workers {

class snapshot_worker;

class memory_sync_worker {
 public:
  memory_sync_worker(letta_client& letta, snapshot_worker& snapshots, const policies::clock& clock,
                     metrics::registry& metrics);

  void add_synced_listener(std::function<void(const block_synced&)> fn);  // before start
  // The game was evicted: drop the per-lane texts kept for it (per_game lanes only; agent
  // lanes span games). The next sync of the game reads its blocks first.
  void forget_game(const std::string& game_id);
  void handle(queues::message m, queues::completion done);  // message_kind::memory_sync
  // Drop handler for message_kind::memory_sync: a sync shed or dropped at shutdown is marked
  // for a retry at the NPC's next snapshot; a coalesced one needs nothing (the newer sync
  // carries both blocks whole). Either way the letter is taken, so its key can send again.
  void on_dropped(queues::message m, queues::drop_reason r);

  // The same as handle() without the queue (tests, benches): `done` runs once when finished.
  // `seen`: when the change was queued (the message's arrival; a coalesced sync keeps the
  // first one's), for npcorch_block_lag_seconds; nullopt: not timed.
  void sync(std::shared_ptr<const sync_request> req, std::function<void(bool ok)> done,
            std::optional<policies::time_point> seen = std::nullopt);
  // Bytes of block text the lanes keep for cheap syncs (tests, benches).
  std::size_t kept_text_bytes();

 private:
  struct op;
  // What the daemon knows of one block of a lane.
  struct kept_block {
    std::uint64_t text_hash = 0;   // of the text it last wrote (to tell NPC edits from it)
    std::uint64_t owned_hash = 0;  // of that text's daemon-owned part (group_members only)
    // Cheap syncs: the text the block holds (last written or read) and the agent's
    // message-step count when the sync that learnt it started. While the count has not
    // moved, the block still holds this text and is not read again.
    std::string value;
    // Set instead of `value` for a group_members text that is the daemon's alone (its last
    // write, with no note or key of the NPC's): a merge takes nothing from such a text, so
    // only its content hash is kept (the 1-2 KB text is most of a lane's memory).
    std::optional<std::uint64_t> daemon_only;
    std::optional<std::uint64_t> steps;
  };
  // A block's text as a sync has it: read from Letta, or known from the last sync (`value`,
  // or `daemon_only` with `text` empty and the text's hash in `daemon_text_hash`).
  struct known_text {
    std::string text;
    std::optional<std::uint64_t> daemon_only;
    std::uint64_t daemon_text_hash = 0;
  };
  struct written {
    kept_block members;
    kept_block status;
  };
  using on_block_fn = void (memory_sync_worker::*)(std::shared_ptr<op>, letta_result, known_text);
  // Reads block `label` (or takes `before`'s text when no step ran since) and goes on with `next`.
  void read_block(std::shared_ptr<op> o, const kept_block& before, const char* label, on_block_fn next);
  // Records what block `which` of `lane` holds now: `value` as of `steps`, and when the daemon
  // wrote it, `wrote`'s hashes.
  void keep(const std::string& lane, kept_block written::*which, known_text value, std::optional<std::uint64_t> steps,
            const merge_outcome* wrote);
  void sync_members(std::shared_ptr<op> o);
  void on_members(std::shared_ptr<op> o, letta_result r, known_text current);
  void sync_status(std::shared_ptr<op> o);
  void on_status(std::shared_ptr<op> o, letta_result r, known_text current);
  void observe_lag(const op& o);
  void finish(std::shared_ptr<op> o, bool ok);
  written last_written(const std::string& lane);

  letta_client& letta_;
  snapshot_worker& snapshots_;
  const policies::clock& clock_;
  std::vector<std::function<void(const block_synced&)>> listeners_;
  std::mutex mu_;
  std::unordered_map<std::string, written> written_;  // by Letta lane (agent, or agent and game)

  metrics::counter& writes_;
  metrics::counter& skipped_;
  metrics::counter& merges_;
  metrics::counter& conflicts_;
  metrics::counter& failures_;
  metrics::counter& dropped_;
  metrics::counter& reads_skipped_;
  metrics::histogram& block_lag_;
};

}  // namespace orch::workers
