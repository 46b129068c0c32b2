#pragma once
// The per-game event logs that WebSocket sessions and long-polls read (DESIGN 3.3).
// Every event of a game gets the next per-game seq (strictly increasing from 1); each game
// keeps the newest `replay_capacity` events for resumption with `since`.
//
// Ownership: the app owns one event_hub. Thread-safety: all members may be called from any
// thread. Subscriber callbacks run on the publishing thread, under no lock of the hub's that
// a callback could re-enter; they must only hand the event off (post to a strand).
// Bounded: replay buffers hold at most replay_capacity events and replay_bytes bytes per game
// (bytes_of: an event's JSON, its typed fields and what keeping it costs besides; the oldest
// events go first; the newest event is always kept), and the hub
// tracks at most max_games games. Past the cap only an idle game is evicted (no subscriber and
// no activity — publish, admit or unsubscribe — for game_idle; least recently active first);
// when none is idle, admit() refuses the new game. Eviction listeners then drop the game's
// other state. Seqs stay monotonic across eviction: a re-created log starts above the
// highest seq any evicted log had, so a client of the old log is answered with a reset.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/metrics.hpp"
#include "policies/clock.hpp"
#include "queues/events.hpp"

namespace orch::queues {

// The typed fields a reader needs to pick an event and use it without parsing its JSON
// (/chat/v3 waits for the npc_message answering its turn, or the turn_dropped of it). Only
// npc_message, npc_typing and turn_dropped have them: they live in an allocation of their own
// so that the many events without them (cluster_update, conversation_state) stay small.
struct event_fields {
  std::string npc;              // npc_message, npc_typing
  std::string in_reply_to;      // npc_message, npc_typing ("" when null)
  std::string text;             // npc_message
  std::string conversation_id;  // npc_message
  std::string cluster_id;       // npc_message, npc_typing
  std::string turn_id;          // turn_dropped
  std::string reason;           // turn_dropped
};

struct event {
  std::uint64_t seq = 0;
  const char* type = "";                      // "npc_message", "turn_dropped", ...; "" for string-published events
  std::string json;                           // the whole event object, `seq` and `type` included, rendered once
  std::unique_ptr<const event_fields> typed;  // null when the event type has no typed fields

  // The typed fields, all empty when the event has none.
  const event_fields& fields() const {
    static const event_fields none;
    return typed ? *typed : none;
  }
};
using event_ptr = std::shared_ptr<const event>;

struct read_result {
  std::vector<event_ptr> events;  // seq > since, in order
  std::uint64_t next = 0;         // highest seq returned, or `since` when none (after a reset:
                                  // the seq the events start after)
  bool reset = false;             // the buffer does not cover `since` (older than its oldest
                                  // event, or ahead of its last seq): start over from `next`
};

class event_hub {
 public:
  event_hub(std::size_t replay_capacity, std::size_t max_games, metrics::registry& metrics);
  // The same with a byte cap per game's replay buffer (the 3-argument form has none).
  event_hub(std::size_t replay_capacity, std::size_t replay_bytes, std::size_t max_games, metrics::registry& metrics);
  ~event_hub();

  // Idle games may be evicted once unused for `game_idle` on `clock` (default: at once, on the
  // steady clock). Call before use.
  void set_idle_policy(std::chrono::milliseconds game_idle, const policies::clock& clock);
  // Called (outside the hub's locks, on the evicting thread) with each evicted game's id.
  void add_evict_listener(std::function<void(const std::string&)> fn);

  // Makes sure `game` is tracked and marks it active: true when it is (or now is), false when
  // it is new and max_games games are tracked with none idle (counted as refused).
  bool admit(std::string_view game);
  std::size_t games() const;
  // Live subscriptions of `game` (0 for an unknown game).
  std::size_t subscribers(std::string_view game) const;

  // Appends an untyped event to `game`'s log: `body` is its JSON members after seq, e.g.
  // R"("type":"x","a":1)" (no braces); its type stays "" and it has no typed fields. The
  // daemon's workers publish typed events (below); this form remains for tests and tools.
  // Returns its seq.
  std::uint64_t publish(std::string_view game, std::string_view body);
  // Appends a typed event: rendered once (queues/events.hpp) into the shared event, with its
  // type and typed fields filled in. Returns its seq.
  std::uint64_t publish(std::string_view game, const event_body& body);
  // Appends typed events in order, as publishing each in turn would, but with one lookup of the
  // game for all of them and no other publish to the game between them (a snapshot's
  // cluster_updates). Returns the last one's seq; 0 when `bodies` is empty (no log is made).
  std::uint64_t publish_all(std::string_view game, std::span<const event_body> bodies);

  // What an event counts against replay_bytes: its JSON, its typed fields (with their strings)
  // and per_event_bytes for the event object, its shared count and its place in the log (88
  // bytes on x86-64).
  static constexpr std::size_t per_event_bytes = sizeof(event) + 32;
  static std::size_t bytes_of(const event& e);

  read_result read(std::string_view game, std::uint64_t since, std::size_t max_events) const;
  std::uint64_t last_seq(std::string_view game) const;

  // Calls `fn` for every event published to `game` from now on, until the returned handle is
  // destroyed. A client may subscribe before the game's first event.
  using subscriber = std::function<void(const event_ptr&)>;
  class subscription {
   public:
    virtual ~subscription() = default;
  };
  std::unique_ptr<subscription> subscribe(std::string_view game, subscriber fn);

  struct impl;  // defined in the .cpp (public so that its subscription handles can name it)

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace orch::queues
