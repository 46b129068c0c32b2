#pragma once
// The conversation worker (DESIGN 5.3): arbitrates chat turns (urgent queue), makes the
// chosen NPCs answer through `npc_reply` messages (conversation queue, key = agent id),
// delivers entry notices through `system_notice` messages, and publishes npc_message,
// conversation_state and turn_dropped events. All decisions live in conversation_state;
// this class wires it to the dispatcher, the Letta client, the event hub and a tick on the
// injected timer service (asio in the daemon, manual timers in tests).
//
// Ownership: the app owns it; it must outlive the dispatcher's handlers and the Letta
// client's pending callbacks (stop the dispatcher and the client first, then call stop()).
// Thread-safety: every member may be called from any thread; the state is guarded by one
// mutex, and effects (submit, publish, Letta calls) run outside it, since a submit may call
// a drop handler synchronously. How it fails: never throws on the data path; every accepted
// turn ends in an npc_message (inReplyTo = turn id) or a turn_dropped event.
#include <atomic>
#include <memory>
#include <mutex>

#include "common/metrics.hpp"
#include "policies/clock.hpp"
#include "policies/conversation_options.hpp"
#include "queues/dispatcher.hpp"
#include "queues/event_hub.hpp"
#include "queues/message.hpp"
#include "queues/timer_service.hpp"
#include "workers/cluster_diff.hpp"
#include "workers/conversation_state.hpp"
#include "workers/letta_client.hpp"
#include "workers/world_registry.hpp"
#include "workers/world_view.hpp"

namespace orch::workers {

class conversation_worker {
 public:
  conversation_worker(const policies::conversation_options& opts, const world_views& views, letta_client& letta,
                      queues::dispatcher& dispatcher, queues::event_hub& events, const policies::clock& clock,
                      queues::timer_service& timers, metrics::registry& metrics);
  ~conversation_worker();
  conversation_worker(const conversation_worker&) = delete;
  conversation_worker& operator=(const conversation_worker&) = delete;

  void handle_turn(queues::message m, queues::completion done);    // chat_turn
  void handle_reply(queues::message m, queues::completion done);   // npc_reply
  void handle_notice(queues::message m, queues::completion done);  // system_notice
  void on_dropped(queues::message m, queues::drop_reason reason);  // drop handler for those three kinds
  void on_cluster_diff(const cluster_diff& diff);
  void on_block_synced(const block_synced& synced);
  void stop();                                // ends the tick (a pending wake-up finds the worker stopped)
  void forget_game(const std::string& game);  // an evicted game (conversation_state::forget_game)

  // Period of the tick that expires waits and sends due notices.
  static constexpr std::chrono::milliseconds tick_period{50};

 private:
  void run(conversation_effects fx);
  // A dispatched reply or notice job: asks the state to start it and holds the worker slot until
  // its Letta call ends (conversation_state::start_job is the state's side of it).
  void run_in_slot(queues::message m, queues::completion done);
  void arm_timer();

  letta_client& letta_;
  queues::dispatcher& dispatcher_;
  queues::event_hub& events_;
  const policies::clock& clock_;
  std::mutex mu_;
  conversation_state state_;
  queues::timer_service& timers_;
  std::atomic<bool> stopped_{false};
  // Guards timer callbacks that outlive the worker.
  std::shared_ptr<conversation_worker*> self_;
};

}  // namespace orch::workers
