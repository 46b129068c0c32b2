#pragma once
// The envelope every piece of queued work travels in.
#include <cstdint>
#include <memory>
#include <string>

#include "policies/clock.hpp"
#include "queues/queue_config.hpp"

namespace orch::queues {

struct message {
  message_kind kind = message_kind::snapshot;
  // Per-key order: two messages with one key are never worked on at once and start in the
  // order the daemon accepted them. Snapshots: game id; Letta calls: agent id; turns: cluster.
  std::string key;
  // When true, a newer message of the same kind and key replaces this one while it has not
  // started (newer snapshot of a game, newer memory sync of an agent). Counted as coalesced.
  bool coalesce = false;
  // The worker that handles `kind` owns the payload's type; the queues never look inside.
  std::shared_ptr<void> payload;

  // Filled in by the dispatcher on accept.
  std::uint64_t accept_seq = 0;
  policies::time_point arrival{};
  policies::time_point deadline{};  // arrival + the queue's budget at arrival; kept on reload
  std::size_t queue = 0;            // index into queues_config::queues
};

// Why a message that was accepted was not worked on.
enum class drop_reason : std::uint8_t { shed, coalesced, shutdown };

}  // namespace orch::queues
