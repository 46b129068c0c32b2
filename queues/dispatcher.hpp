#pragma once
// The deadline dispatcher: accepts messages from any thread, keeps them in their named
// queues, and starts work on worker slots in deadline order, honouring per-key order and
// coalescing. See DESIGN section 4.
//
// Ownership: the app owns one dispatcher. Thread-safety: submit(), reload(), stop_accepting()
// and the stats accessors may be called from any thread. Handlers run on the io_context's
// threads (never on the caller of submit) and must eventually call their completion — a
// worker slot stays taken until then, so a slot may wait for a Letta reply without holding a
// thread. How it fails: a full queue rejects (or sheds its oldest message, per its overflow
// policy); nothing accepted is lost without its drop handler hearing of it.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "common/metrics.hpp"
#include "policies/clock.hpp"
#include "queues/message.hpp"
#include "queues/queue_config.hpp"
#include "queues/timer_service.hpp"

namespace orch::queues {

// Move-only token handed to a handler with its message. done() (or destruction) frees the
// worker slot and the message's key; calling it twice is harmless.
class completion {
 public:
  completion() = default;
  explicit completion(std::function<void()> fn) : fn_(std::move(fn)) {}
  completion(completion&& o) noexcept : fn_(std::exchange(o.fn_, nullptr)) {}
  completion& operator=(completion&& o) noexcept {
    if (this != &o) {
      done();
      fn_ = std::exchange(o.fn_, nullptr);
    }
    return *this;
  }
  completion(const completion&) = delete;
  completion& operator=(const completion&) = delete;
  ~completion() { done(); }
  void done() {
    if (auto f = std::exchange(fn_, nullptr)) f();
  }

 private:
  std::function<void()> fn_;
};

using handler = std::function<void(message, completion)>;
using drop_handler = std::function<void(message, drop_reason)>;

enum class submit_status : std::uint8_t { accepted, rejected, stopped };

struct submit_result {
  submit_status status = submit_status::accepted;
  std::size_t queue = 0;  // the queue the message was routed to
  std::string queue_name;
  std::chrono::seconds retry_after{1};  // for rejected
};

class dispatcher {
 public:
  // The drain timeout runs on `timers` (which must outlive the dispatcher and its posted work);
  // the second form keeps its own Asio timers on `io`.
  dispatcher(boost::asio::io_context& io, queues_config cfg, const policies::clock& clock, timer_service& timers,
             metrics::registry& metrics);
  dispatcher(boost::asio::io_context& io, queues_config cfg, const policies::clock& clock, metrics::registry& metrics);
  ~dispatcher();
  dispatcher(const dispatcher&) = delete;
  dispatcher& operator=(const dispatcher&) = delete;

  void set_handler(message_kind k, handler h);            // before start()
  void set_drop_handler(message_kind k, drop_handler h);  // before start()
  void start();

  // Routes m by its kind, stamps arrival/deadline/accept_seq, and queues it.
  submit_result submit(message m);
  // A message of kind `k` that its sender merged into one of its own still queued (a memory sync
  // that replaced the request of its key's waiting letter, workers/sync_mailbox.hpp) instead of
  // submitting it: counted as accepted and coalesced by the queue `k` routes to, as submit and
  // the queue's own coalescing would have counted it.
  void count_coalesced(message_kind k);

  // Applies new budgets, capacities, worker counts and routes; queued messages stay queued
  // and keep their deadlines. Returns false with `error` set when the new config cannot be
  // applied (e.g. it removes a queue); the old config is then kept whole.
  bool reload(const queues_config& cfg, std::string& error);

  // Shutdown: refuse new messages (submit answers `stopped`), then call `done(true)` once no
  // message is queued or being worked on, or `done(false)` after `timeout` (remaining queued
  // messages go to their drop handlers with drop_reason::shutdown). `timeout` is measured
  // on the injected clock and timer service.
  void stop_accepting();
  void drain(policies::duration timeout, std::function<void(bool drained)> done);

  std::size_t depth(std::size_t queue) const;      // queued, not started
  std::size_t in_flight(std::size_t queue) const;  // started, not completed
  queues_config config() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace orch::queues
