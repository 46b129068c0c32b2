#pragma once
// The envelope every piece of queued work travels in.
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

#include "policies/clock.hpp"
#include "queues/queue_config.hpp"

namespace orch::queues {

// A message's payload: one shared object, tagged with its type when it is stored, so that a
// handler gets it back only as the type it was made with — as<T>() answers null for any other
// type (the handler then drops the message and counts it), never a cast to the wrong type.
// The queues never look inside. Thread-safety: like the shared_ptr it holds.
class payload_ref {
 public:
  payload_ref() = default;
  payload_ref(std::nullptr_t) {}  // NOLINT(google-explicit-constructor): "no payload"
  template <class T>
  payload_ref(std::shared_ptr<T> p)  // NOLINT(google-explicit-constructor): m.payload = make_shared<T>(..)
      : ptr_(std::const_pointer_cast<std::remove_const_t<T>>(std::move(p))), tag_(ptr_ ? tag_of<T>() : nullptr) {}

  // The payload as T (or const T), or null when it is empty or of another type.
  template <class T>
  std::shared_ptr<T> as() const {
    if (!ptr_ || tag_ != tag_of<T>()) return nullptr;
    return std::static_pointer_cast<T>(ptr_);
  }
  explicit operator bool() const { return ptr_ != nullptr; }

 private:
  // One address per payload type (const or not), the same in every translation unit.
  template <class T>
  static const void* tag_of() {
    return &tag_holder<std::remove_cv_t<T>>::tag;
  }
  template <class U>
  struct tag_holder {
    static constexpr char tag = 0;
  };

  std::shared_ptr<void> ptr_;
  const void* tag_ = nullptr;
};

struct message {
  message_kind kind = message_kind::snapshot;
  // Per-key order: two messages with one key are never worked on at once and start in the
  // order the daemon accepted them. Snapshots: game id; Letta calls: agent id; turns: cluster.
  std::string key;
  // When true, a newer message of the same kind and key replaces this one while it has not
  // started (a newer snapshot of a game). Counted as coalesced. Memory syncs coalesce before
  // the queue instead (workers/sync_mailbox.hpp), counted through dispatcher::count_coalesced.
  bool coalesce = false;
  // The worker that handles `kind` owns the payload's type and takes it with payload.as<T>().
  payload_ref payload;

  // Filled in by the dispatcher on accept.
  std::uint64_t accept_seq = 0;
  policies::time_point arrival{};
  policies::time_point deadline{};  // arrival + the queue's budget at arrival; kept on reload
  std::size_t queue = 0;            // index into queues_config::queues
};

// Why a message that was accepted was not worked on.
enum class drop_reason : std::uint8_t { shed, coalesced, shutdown };

}  // namespace orch::queues
