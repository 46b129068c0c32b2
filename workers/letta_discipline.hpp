#pragma once
// letta_discipline: the typed Letta API over a raw letta_transport (DESIGN 5.4). It is the
// letta_client the rest of the daemon uses, whatever the backend. When each request goes out
// is the Letta-agnostic call_scheduler's business; this class builds requests, classifies
// answers (what is retried, what feeds the breaker) and decodes results.
// - Lanes: one request in flight per agent; its waiting calls start in class order
//   (reply > npc > sync) then arrival order (bounded: beyond max_pending_per_agent a call
//   fails at once with "overloaded"). A call keeps its lane across its retries.
// - A global cap on requests in flight and a global token bucket counting every request;
//   the per-agent bucket counts message calls only. Syncs (block calls) use at most
//   sync_share of the global rate while reply or npc work waits.
// - Retries with exponential backoff and full jitter (Retry-After honoured up to 60 s) on
//   timeouts, connection errors, 408, 409 (not PENDING_APPROVAL), 429 and 5xx; the same
//   request body, hence the same otids, is resent.
// - Agents that verification found missing get no message or block calls until a later
//   verification finds them: such calls fail at once with "agent_missing" (counted).
// - Token use from each reply's usage is counted per agent and in total.
// - A circuit breaker fed by 5xx, timeouts and connection errors. While it is open, calls
//   wait for the half-open probe; a call held by the breaker for `breaker_wait`
//   (letta.timeout_ms) fails with "breaker_open".
//
// Ownership: create with std::make_shared (transport callbacks hold a reference). The timer
// service is its own asio one unless injected (tests inject manual timers).
// Thread-safety: every public member may be called from any thread; transports are called
// and callbacks posted outside any lock. No thread ever waits. Callbacks run exactly once,
// posted to the io_context.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "common/metrics.hpp"
#include "policies/circuit_breaker.hpp"
#include "policies/clock.hpp"
#include "policies/retry_backoff.hpp"
#include "workers/call_scheduler.hpp"
#include "workers/letta_client.hpp"
#include "workers/letta_conversation_codec.hpp"
#include "workers/letta_options.hpp"
#include "workers/letta_transport.hpp"
#include "workers/shared_conversations.hpp"
#include "workers/timer_service.hpp"

namespace orch::workers {

struct discipline_options {
  std::uint32_t max_in_flight = 16;
  double global_per_s = 20;
  double global_burst = 40;
  double per_agent_per_s = 2;
  double per_agent_burst = 2;
  double sync_share = 0.5;
  policies::backoff_options backoff;
  std::uint32_t breaker_failure_threshold = 10;
  std::chrono::milliseconds breaker_open{5000};
  std::chrono::milliseconds breaker_wait{60000};  // longest wait of a call behind an open breaker
  std::size_t max_pending_per_agent = 1000;
  std::uint64_t jitter_seed = 0;  // 0 = from std::random_device
  bool per_game = false;          // letta.conversations == per_game (from() sets it from the config)
  // Shared by several daemons (DESIGN 10), both optional: the global and per-agent limits
  // (null: local buckets) and the (agent, game) → conversation map (null: Letta only).
  std::shared_ptr<rate_gate> gate;
  std::shared_ptr<shared_conversations> shared_map;

  static discipline_options from(const letta_options& o);
  scheduler_options scheduler() const;
};

class letta_discipline final : public letta_client, public std::enable_shared_from_this<letta_discipline> {
 public:
  // Real timers on `io`.
  letta_discipline(boost::asio::io_context& io, std::shared_ptr<letta_transport> transport, discipline_options opts,
                   const policies::clock& clock, metrics::registry& metrics);
  // Injected timers (tests: manual timers on a manual clock). `timers` outlives this.
  letta_discipline(boost::asio::io_context& io, std::shared_ptr<letta_transport> transport, discipline_options opts,
                   const policies::clock& clock, timer_service& timers, metrics::registry& metrics);

  void send_messages(const std::string& agent_id, std::vector<letta_message> messages, reply_fn cb) override;
  void send_messages_as(letta_call_class cls, const std::string& agent_id, std::vector<letta_message> messages,
                        reply_fn cb) override;
  void get_block(const std::string& agent_id, const std::string& label, block_fn cb) override;
  void update_block(const std::string& agent_id, const std::string& label, std::string value, done_fn cb) override;
  void get_agent(const std::string& agent_id, done_fn cb) override;
  void health(done_fn cb) override;
  void set_missing_agents(std::vector<std::string> agents) override;
  std::optional<std::uint64_t> message_steps(const std::string& agent_id) const override;
  void send_in_game(letta_call_class cls, const std::string& agent_id, const std::string& game_id,
                    std::vector<letta_message> messages, reply_fn cb) override;
  void get_game_block(const std::string& agent_id, const std::string& game_id, const std::string& label,
                      block_fn cb) override;
  void update_game_block(const std::string& agent_id, const std::string& game_id, const std::string& label,
                         std::string value, done_fn cb) override;
  std::optional<std::uint64_t> game_message_steps(const std::string& agent_id,
                                                  const std::string& game_id) const override;
  std::string lane_key(const std::string& agent_id, const std::string& game_id) const override;
  void append_lane_key(std::string& out, const std::string& agent_id, const std::string& game_id) const override;
  void forget_game(const std::string& game_id) override;
  // Drops queued and waiting calls uncalled (the scheduler's, and those waiting for an
  // agent's directory or block): the app's unwinding is then free of callback cycles.
  void stop() override;
  // The conversation id of (agent, game) once resolved (tests, debug), or nullopt.
  std::optional<std::string> conversation_of(const std::string& agent_id, const std::string& game_id) const;

  const std::shared_ptr<letta_transport>& transport() const { return transport_; }

  // Observations for tests and the debug route.
  std::uint32_t in_flight() const { return scheduler_->in_flight(); }
  std::uint32_t max_in_flight_seen() const { return scheduler_->max_in_flight_seen(); }
  std::uint32_t max_agent_concurrency() const { return scheduler_->max_lane_concurrency(); }
  policies::breaker_state breaker_state() const { return scheduler_->breaker_state(); }

 private:
  using finish_fn = std::function<void(letta_result, transport_response)>;
  // One call as the scheduler sees it, across its attempts.
  struct shared_call {
    transport_request req;  // the agent-wide form; rewritten per attempt for a conversation
    transport_response last;
    finish_fn finish;
    std::string game;  // per_game mode: the conversation's game; "" = agent-wide
    std::string lane;
    std::string otid;  // messages: the otid looked for after a timeout
    bool timed_out = false;
    bool token_used = false;  // the attempt's rate token went to a request (a create made in a block read)
  };
  // A resolved (agent, game) conversation: its id and isolated block ids by label.
  struct conversation_entry {
    std::string id;
    std::unordered_map<std::string, std::string> blocks;
    // Labels whose isolated block still holds the copy of the agent's block Letta made when
    // this daemon created the conversation (no message has started in it, the daemon has not
    // written the block): a read of it is answered from that copy, without a request.
    std::unordered_set<std::string> pristine;
  };
  using entry_fn = std::function<void(std::optional<conversation_entry>, transport_response failure)>;
  using failure_fn = std::function<void(std::optional<transport_response> failure)>;  // nullopt: ok
  using value_fn = std::function<void(std::optional<std::string> value)>;             // nullopt: unknown
  // The agent's own block of one label (per_game), read once: what Letta copies into the
  // isolated block of each conversation it creates (conversation_manager._create_isolated_blocks).
  struct agent_block {
    bool loaded = false;
    bool loading = false;
    std::string value;
    std::vector<value_fn> waiters;
  };
  // The daemon's conversations of one agent as Letta lists them (per_game): loaded once by a
  // paged list (one request per 100 conversations, not a search per pair), then kept as pairs
  // are created or found. After an evicted game's entry is dropped it is no longer complete:
  // a summary missing from it is then searched for in Letta before one is created.
  struct directory {
    bool loaded = false;
    bool loading = false;
    bool complete = true;
    std::unordered_map<std::string, letta_conversation> by_summary;
    std::vector<failure_fn> waiters;
  };

  void send_impl(letta_call_class cls, const std::string& agent_id, const std::string& game,
                 std::vector<letta_message> messages, reply_fn cb);
  void submit(transport_request req, call_class cls, finish_fn finish, std::string game = {}, std::string otid = {});
  // One attempt: resolve the conversation (per_game), look for a timed-out message's reply,
  // then send. All of it inside the call's lane, so it is never raced within the lane.
  void attempt(std::shared_ptr<shared_call> sc, std::function<void(attempt_result)> done);
  void send_now(std::shared_ptr<shared_call> sc, const conversation_entry* conv,
                std::function<void(attempt_result)> done);
  void ensure_conversation(const std::shared_ptr<shared_call>& sc, entry_fn cb);
  // Local miss: the directory and Letta (below); with a shared map, what they resolve is
  // offered to it and another daemon's earlier answer wins (DESIGN 10).
  void resolve_in_letta(const std::shared_ptr<shared_call>& sc, entry_fn cb);
  entry_fn publish_shared(const std::string& lane, entry_fn cb);
  // The shared map's text of an entry: "id\nlabel\tblock_id..." (labels sorted).
  static std::string encode_conversation_entry(const conversation_entry& e);
  static std::optional<conversation_entry> decode_conversation_entry(const std::string& s);
  // Runs `ready` once the agent's directory is loaded (loading it, or joining the load).
  void with_directory(const std::string& agent, failure_fn ready);
  void load_directory(const std::string& agent);
  // `own`: the call whose attempt resolves the pair; a block read's create uses its rate token.
  void after_directory(const std::string& agent, const std::string& summary, const std::string& lane,
                       std::shared_ptr<shared_call> own, entry_fn cb);
  // Pages through the agent's conversations whose summary holds `search` until `page`
  // returns true (found) or the list ends; then `done` (nullopt on success).
  void page_conversations(std::string agent, std::string search, std::string after,
                          std::function<bool(std::vector<letta_conversation>&)> page, failure_fn done);
  void create_conversation(const std::string& agent, const std::string& summary, const std::string& lane,
                           std::shared_ptr<shared_call> own, entry_fn cb);
  // A read of an isolated block this daemon's conversation still holds as created: answered
  // from the agent's block (read once per agent and label). True when it was answered here.
  bool answer_pristine(const std::string& lane, const std::string& agent, const std::string& label, const block_fn& cb);
  void with_agent_block(const std::string& agent, const std::string& label, value_fn fn);
  // The request an attempt makes for itself: on its token, or charged when a create took it.
  void execute_own(const std::shared_ptr<shared_call>& sc, transport_request req,
                   std::function<void(transport_response)> cb);
  void remember_conversation(const std::string& agent, const std::string& summary, const std::string& lane,
                             const conversation_entry& entry, std::vector<std::string> block_ids);
  void read_block_labels(std::shared_ptr<conversation_entry> entry, std::vector<std::string> ids, std::string lane,
                         std::string agent, entry_fn cb);
  void complete_attempt(const std::shared_ptr<shared_call>& sc, transport_response r,
                        const std::function<void(attempt_result)>& done);
  void execute_counted(transport_request req, const char* kind, std::function<void(transport_response)> cb);
  // A request an attempt makes beyond its own (lookups, read-backs): charged to the global rate.
  void execute_extra(transport_request req, const char* kind, std::function<void(transport_response)> cb);
  // True (and the call refused, counted) when the agent is known missing.
  bool refuse_missing(const std::string& agent_id);
  void count_tokens(const std::string& agent_id, const letta_reply& reply);
  std::string new_otid();

  boost::asio::io_context& io_;
  std::shared_ptr<letta_transport> transport_;
  const policies::clock& clock_;
  metrics::registry& metrics_;
  std::unique_ptr<asio_timer_service> own_timers_;
  std::shared_ptr<call_scheduler> scheduler_;
  mutable std::mutex otid_mu_;  // also guards missing_, steps_, conversations_ and directories_
  std::unordered_set<std::string> missing_;
  std::unordered_map<std::string, std::uint64_t> steps_;               // ended message calls per lane
  std::unordered_map<std::string, conversation_entry> conversations_;  // by lane (per_game)
  std::unordered_map<std::string, directory> directories_;             // by agent (per_game)
  std::unordered_map<std::string, agent_block> agent_blocks_;          // by "agent|label" (per_game)
  bool per_game_ = true;
  std::shared_ptr<shared_conversations> shared_;  // the map shared by several daemons, or null
  std::mt19937_64 otid_rng_;
  // The metrics with fixed labels, looked up once (the per-status and per-agent ones are
  // looked up per use).
  struct fixed_metrics {
    static constexpr const char* tokens_help = "Tokens used by Letta replies (from usage)";
    explicit fixed_metrics(metrics::registry& r);
    metrics::histogram& latency;
    metrics::counter& known_reads;
    metrics::counter& prompt_tokens;
    metrics::counter& completion_tokens;
  };
  fixed_metrics m_;
};

}  // namespace orch::workers
