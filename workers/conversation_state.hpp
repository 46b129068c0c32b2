#pragma once
// The decision core of the conversation worker (DESIGN 5.3): turn arbitration, reply jobs,
// the per-cluster floor, NPC cooldowns, context lines, chains, echo suppression and entry
// notices. It performs no I/O: every call takes `now` and returns the effects to carry out
// (messages to submit to the dispatcher, one Letta call to make, events to publish), so it
// is tested without a dispatcher, a Letta client or timers.
//
// Reply jobs: each chosen responder of a turn becomes a job, submitted at once as an
// `npc_reply` message (key = agent id). When the dispatcher starts it (on_start) the job
// either starts its Letta call, or parks when its NPC is cooling down or busy, when it must
// wait for the addressed NPC, or when the cluster's floor (max_concurrent_speakers) is full.
// Cooldowns gate unprompted speech only: a job answering a player who addressed its NPC
// waits only while that NPC is busy (or for the floor), never for its cooldown.
// Parked jobs are resubmitted in (priority, arrival) order by tick() with a floor slot
// reserved for them; a job not started before its deadline (turn_timeout_s) expires.
// A turn ends in at least one npc_message (inReplyTo = its id) or in one turn_dropped.
//
// Ownership: owned by conversation_worker. Thread-safety: none; the worker serialises calls
// under its mutex. Failure: no exceptions on the data path; unknown job ids are ignored.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/metrics.hpp"
#include "policies/clock.hpp"
#include "policies/conversation_options.hpp"
#include "policies/cooldown.hpp"
#include "policies/echo_filter.hpp"
#include "policies/notice_folding.hpp"
#include "policies/rate_window.hpp"
#include "policies/turn_taking.hpp"
#include "queues/events.hpp"
#include "queues/queue_config.hpp"
#include "workers/chat_turn.hpp"
#include "workers/cluster_diff.hpp"
#include "workers/json_text.hpp"
#include "workers/letta_client.hpp"
#include "workers/world_view.hpp"

namespace orch::workers {

// Payload of npc_reply and system_notice messages: which job the dispatcher started.
struct conversation_job_ref {
  std::uint64_t job = 0;
};

struct conversation_effects {
  struct submit {
    queues::message_kind kind = queues::message_kind::npc_reply;
    std::string agent_id;  // with game: the message key (letta_client::lane_key)
    std::uint64_t job = 0;
    std::string game;
  };
  struct call {
    std::uint64_t job = 0;
    std::string agent_id;
    std::string game;  // the Letta conversation's game (per_game mode)
    std::vector<letta_message> messages;
    letta_call_class cls = letta_call_class::npc;  // reply: answers a player's turn
  };
  struct publish {
    std::string game;
    queues::event_body body;  // typed; the event hub renders it once
  };
  std::vector<submit> submits;
  std::vector<call> calls;
  std::vector<publish> events;

  void append(conversation_effects&& o);
  bool empty() const { return submits.empty() && calls.empty() && events.empty(); }
};

class conversation_state {
 public:
  static constexpr std::size_t max_context_lines = 10;

  conversation_state(const policies::conversation_options& opts, const world_views& views, metrics::registry& metrics);

  // Arbitrates a chat turn: drops it (with an event) or creates its reply jobs.
  conversation_effects on_turn(const chat_turn& turn, policies::time_point now);
  // The dispatcher started job's message: `started` tells whether a Letta call was returned
  // (the caller then keeps its worker slot until on_reply).
  conversation_effects on_start(std::uint64_t job, policies::time_point now, bool& started);
  conversation_effects on_reply(std::uint64_t job, const letta_result& result, const letta_reply& reply,
                                policies::time_point now);
  // The job's message was shed (or its resubmission refused): reason for the turn_dropped.
  conversation_effects on_dropped(std::uint64_t job, std::string_view reason, policies::time_point now);
  // A turn was shed before arbitration.
  conversation_effects on_turn_dropped(const chat_turn& turn, std::string_view reason);
  conversation_effects on_cluster_diff(const cluster_diff& diff, policies::time_point now);
  conversation_effects on_block_synced(const block_synced& synced, policies::time_point now);
  // Expires jobs past their deadline, resubmits parked jobs that may start, sends notices
  // whose ride-along delay passed, prunes old policy state.
  conversation_effects tick(policies::time_point now);
  // Shutdown: every unfinished turn without a reply ends in turn_dropped `reason`; all jobs
  // are forgotten (late Letta replies are then ignored).
  conversation_effects on_shutdown(std::string_view reason);

  // An evicted game (idle, so without jobs): drops its NPC contexts, agents and pending
  // notices. State of NPCs that still have jobs is kept (they finish and are pruned later).
  void forget_game(const std::string& game);

  // For tests and stats.
  std::size_t jobs() const { return jobs_.size(); }
  std::size_t parked() const;
  std::size_t active_conversations() const;
  std::size_t context_lines(const std::string& game, const std::string& npc) const;

 private:
  enum class job_kind : std::uint8_t { turn, chain, notice };
  enum class job_status : std::uint8_t { queued, parked, reserved, generating };
  struct job {
    std::uint64_t id = 0;
    job_kind kind = job_kind::turn;
    policies::turn_priority priority = policies::turn_priority::player;
    job_status status = job_status::queued;
    std::string game, cluster, npc, agent;
    std::string turn_id;  // "" for notices
    std::string speaker;  // whose line this answers ("" for notices and system turns)
    std::string text;
    bool system_role = false;
    std::uint32_t chain_depth = 0;  // 0: answers a player/system turn; n: n-th NPC-to-NPC step
    policies::time_point deadline = policies::time_point::max();
    std::uint64_t blocked_by = 0;      // the addressed NPC's job, which answers first
    bool addressed_player = false;     // answers a player who addressed this NPC: no cooldown
    std::vector<std::string> members;  // the cluster when the job was made (audience fallback)
  };
  struct turn_record {
    std::string game;
    std::size_t outstanding = 0;
    bool replied = false;
    bool player = false;             // a player's turn: its first reply is timed
    policies::time_point arrived{};  // when arbitration saw it
    std::string reason;              // why the last job ended without a reply
  };
  struct context_line {
    std::string role;
    std::string name;
    std::string text;
  };
  struct npc_state {
    std::deque<context_line> context;
    std::uint64_t generating = 0;
    std::size_t jobs = 0;  // jobs of this NPC not finished
  };
  struct floor_state {
    std::vector<std::uint64_t> active;                         // reserved or generating
    std::set<std::pair<std::uint8_t, std::uint64_t>> waiting;  // (priority, job id)
    std::optional<std::string> shown;                          // floor as last published
    bool published = false;
    std::vector<std::string> members;  // participants when the view has lost the cluster
    std::size_t jobs = 0;              // unfinished jobs; the floor is forgotten at 0
  };

  static std::string key(std::string_view game, std::string_view name);
  std::uint64_t add_job(job j, conversation_effects& fx);
  bool may_start(const job& j, policies::time_point now, bool& cooling) const;
  bool floor_has_room(const floor_state& f) const;
  bool floor_admits(const floor_state& f, const job& j) const;
  void start_job(job& j, policies::time_point now, conversation_effects& fx, bool& started);
  // An addressed player's turn found its NPC generating another job: counted by that job's kind.
  void count_addressed_wait(const job& j);
  // Removes a finished job; a turn whose last job ended without a reply is dropped.
  void finish_job(std::uint64_t id, bool replied, std::string_view reason, conversation_effects& fx);
  void pump(const std::string& floor_key, policies::time_point now, conversation_effects& fx);
  void publish_floor(const std::string& floor_key, conversation_effects& fx);
  void queue_context(const std::string& game, const std::string& npc, context_line line);
  std::vector<std::string> cluster_members(const std::string& game, const std::string& cluster,
                                           const std::vector<std::string>& fallback) const;
  void emit_dropped(const std::string& game, const std::string& turn_id, std::string_view reason,
                    conversation_effects& fx);
  void update_gauge();

  policies::conversation_options opts_;
  const world_views& views_;
  policies::cooldown cooldown_;
  policies::rate_window player_rate_;
  policies::echo_filter echo_;
  policies::notice_folding notices_;

  std::uint64_t next_job_ = 1;
  std::map<std::uint64_t, job> jobs_;
  std::unordered_map<std::string, turn_record> turns_;
  std::unordered_map<std::string, npc_state> npcs_;         // key(game, npc)
  std::unordered_map<std::string, floor_state> floors_;     // key(game, cluster)
  std::unordered_set<std::string> notice_candidates_;       // key(game, npc) with a pending notice
  std::unordered_map<std::string, std::string> npc_agent_;  // key(game, npc) -> agent id
  // key(game, npc) -> the members its group_members block lists (sorted), from block_synced:
  // a reply whose NPC's group differs carries the group inline (DESIGN 5.4).
  std::unordered_map<std::string, std::vector<std::string>> block_members_;
  std::unordered_map<std::string, std::size_t> game_jobs_;  // unfinished jobs per game (erased at 0)
  policies::time_point last_prune_{};

  metrics::registry& metrics_;
  metrics::counter& turns_player_;
  metrics::counter& turns_npc_;
  metrics::counter& turns_system_;
  metrics::counter& replies_;
  metrics::counter& floor_waits_;
  metrics::counter& cooldown_holds_;
  metrics::counter& echoes_;
  metrics::counter& notices_sent_;
  metrics::counter& notices_folded_;
  metrics::counter& chain_steps_;
  metrics::counter& inline_context_;
  metrics::gauge& active_;
  metrics::histogram& reply_latency_;
};

}  // namespace orch::workers
