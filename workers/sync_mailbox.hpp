#pragma once
// Memory syncs on their way to the background queue, at most one waiting per sync key (DESIGN 4:
// "a newer memory sync for an agent replaces the older. Counted, never silent").
//
// The queue coalesces too, but only after a request has crossed into the dispatcher, been
// matched there and been handed back out to the drop handler. Under walking load an NPC's group
// changes at nearly every snapshot and more than 99 % of the syncs decided are replaced before
// they run, so the replacing is done here, on the snapshot worker's thread: a sync key with a
// letter waiting in the queue gets its request swapped in that letter, and only a key with none
// waiting sends a new message. The sender counts each replacement with
// dispatcher::count_coalesced, so npcorch_queue_coalesced_total still counts every one.
//
// Ownership: the snapshot worker owns the mailbox; each letter is the payload of one queued
// memory_sync message and keeps the mailbox's table alive. Thread-safety: every member may be
// called from any thread (one mutex, held for a swap or an erase). A letter destroyed without
// being taken (a message dropped unhandled) leaves the table, so the key can send again.
#include <cstddef>
#include <memory>
#include <string>

#include "workers/game_state.hpp"

namespace orch::workers {

class sync_mailbox {
 public:
  class letter;

  sync_mailbox();

  // Puts `req` under `key`. Returns the letter to queue when no letter of `key` is waiting; null
  // when `req` replaced the request of the waiting one (then nothing is to be sent). The replaced
  // request goes to `*replaced` when given (for game_state::recycle), else it is freed.
  std::shared_ptr<letter> post(const std::string& key, std::shared_ptr<const sync_request> req,
                               std::shared_ptr<const sync_request>* replaced = nullptr);
  // Letters waiting (posted, not taken).
  std::size_t waiting() const;

 private:
  struct table;
  std::shared_ptr<table> table_;
};

// The payload of a memory_sync message: the newest request decided for its key until the sync
// takes it.
class sync_mailbox::letter {
 public:
  letter(std::shared_ptr<table> t, std::string key);
  ~letter();
  letter(const letter&) = delete;
  letter& operator=(const letter&) = delete;

  // The newest request, taken out: the letter stops waiting, and the key's next post makes a new
  // one. Null when it was taken before.
  std::shared_ptr<const sync_request> take();

 private:
  friend class sync_mailbox;
  std::shared_ptr<table> table_;
  std::string key_;
  std::shared_ptr<const sync_request> req_;  // guarded by the table's mutex
};

}  // namespace orch::workers
