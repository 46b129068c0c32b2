#pragma once
// The pure deadline scheduler behind the dispatcher (DESIGN section 4): named queues with
// latency budgets, exact capacities, worker slots, per-key order and coalescing.
//
// Ownership: the dispatcher owns one and touches it only from its strand; tests drive one
// directly with a tick harness. Thread-safety: none — single-threaded, no locks, no clock
// (every time is passed in). How it fails: it never throws on the data path; a full queue
// rejects or sheds its oldest message (returned to the caller, so the message's owner hears
// of it); a message whose kind has no route goes to its route's queue as configured. The
// constructor throws std::invalid_argument on an invalid config (startup tier).
//
// Model. Every queued message belongs to one queue (its budget, capacity and worker slots)
// and to one key. Per key, the messages wait in accept order (accept_seq) in one list that
// spans all queues, so an agent's memory_sync in `background` and its npc_reply in
// `conversation` serialize. Only the head of a key's list, and only while no message of that
// key runs, is "ready"; each queue keeps its ready heads ordered by (deadline, accept_seq).
// next() takes, among queues with a free worker slot, the ready head with the earliest
// deadline: O(queues + log n). A busy key therefore never blocks other keys of its queue.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "policies/clock.hpp"
#include "queues/message.hpp"
#include "queues/queue_config.hpp"

namespace orch::queues {

// Plain counters per queue; `accepted` counts every message taken in, including those later
// coalesced into an older one or shed.
struct queue_stats {
  std::size_t depth = 0;      // queued, not started
  std::size_t in_flight = 0;  // started, not completed
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
  std::uint64_t shed = 0;
  std::uint64_t coalesced = 0;
  std::uint64_t deadline_misses = 0;  // started after their deadline
  std::uint64_t started = 0;
  std::uint64_t completed = 0;
};

enum class push_status : std::uint8_t { accepted, coalesced, rejected, shed };

// `check`: a `reject` queue at capacity refuses the message. `reserved`: the caller already
// reserved room (the dispatcher's capacity gate), so the message is taken even if a reload
// shrank the capacity meanwhile; `shed_oldest` queues still shed.
enum class admission : std::uint8_t { check, reserved };

struct push_result {
  push_status status = push_status::accepted;
  std::size_t queue = 0;
  // shed: the oldest message dropped to make room (possibly the new one when the queue has
  // nothing older); coalesced: the replaced message with its OLD payload (the queued one
  // now carries the new payload, keeping its place and deadline); rejected: the message.
  std::optional<message> dropped;
};

class scheduler {
 public:
  explicit scheduler(queues_config cfg);

  // Validates `next` and merges it onto `current`: queues are matched by name and keep their
  // index (a message's `queue` stays valid), queues new in `next` are appended, routes are
  // remapped. Fails when `next` is invalid or drops a queue of `current`.
  static bool merge_config(const queues_config& current, const queues_config& next, queues_config& merged,
                           std::string& error);

  // Applies new budgets, capacities, worker counts and routes (merged as above). Queued
  // messages stay queued with their deadlines; a capacity below the depth drops nothing.
  bool reconfigure(const queues_config& next, std::string& error);
  const queues_config& config() const { return cfg_; }

  // Sets queue (by route), accept_seq, arrival = now and deadline = now + budget.
  message& stamp(message& m, policies::time_point now);
  // Queues a stamped message (a message without accept_seq gets one).
  push_result push(message m, admission a = admission::check);
  push_result submit(message m, policies::time_point now) {
    stamp(m, now);
    return push(std::move(m));
  }

  // Starts the next message (see the class comment) or returns nothing when no queue with a
  // free slot has a ready message. The caller must later call complete(m.queue, m.key).
  std::optional<message> next(policies::time_point now);
  void complete(std::size_t queue, const std::string& key);

  // Removes and returns every queued (not started) message, in accept order (shutdown).
  std::vector<message> drop_all();

  const queue_stats& stats(std::size_t queue) const { return qs_[queue].stats; }
  std::size_t queue_count() const { return qs_.size(); }
  std::size_t queued() const { return nodes_.size(); }
  std::size_t in_flight() const;
  std::size_t key_count() const { return keys_.size(); }  // keys with queued or running work

 private:
  using ready_entry = std::pair<policies::time_point, std::uint64_t>;  // deadline, accept_seq
  struct queue_state {
    std::set<ready_entry> ready;     // heads of idle keys whose head is in this queue
    std::set<std::uint64_t> by_age;  // every queued message of this queue (shed oldest)
    queue_stats stats;
  };
  // A key's waiting seqs in accept order. Most keys hold one (a memory sync waits as one letter
  // per key), so not a std::deque, whose empty state alone allocates ~600 bytes: a vector
  // whose front is an index, compacted once the taken part is the larger half.
  class seq_list {
   public:
    bool empty() const { return head_ == v_.size(); }
    std::uint64_t front() const { return v_[head_]; }
    const std::uint64_t* begin() const { return v_.data() + head_; }
    const std::uint64_t* end() const { return v_.data() + v_.size(); }
    void insert(const std::uint64_t* pos, std::uint64_t seq) { v_.insert(v_.begin() + (pos - v_.data()), seq); }
    void erase(const std::uint64_t* pos) {
      if (pos == begin()) return pop_front();
      v_.erase(v_.begin() + (pos - v_.data()));
    }
    void pop_front() {
      if (++head_ == v_.size()) {
        v_.clear();
        head_ = 0;
      } else if (head_ >= 16 && 2 * head_ >= v_.size()) {
        v_.erase(v_.begin(), v_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
      }
    }

   private:
    std::vector<std::uint64_t> v_;
    std::size_t head_ = 0;
  };
  struct key_state {
    bool running = false;
    seq_list pending;                                               // accept order, across queues
    std::array<std::uint64_t, message_kind_count> coalesce_slot{};  // queued coalescible, 0 = none
  };

  void insert(message m);
  message remove_queued(std::uint64_t seq);
  void make_head_ready(key_state& ks);

  queues_config cfg_;
  std::vector<queue_state> qs_;
  std::unordered_map<std::uint64_t, message> nodes_;  // queued messages by accept_seq
  std::unordered_map<std::string, key_state> keys_;
  std::uint64_t last_seq_ = 0;
};

}  // namespace orch::queues
