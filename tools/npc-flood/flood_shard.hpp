#pragma once
// One thread's share of a flood: its own io_context, connection pool, games and timetable.
// Games are split over shards, so a game's snapshots, chat turns and event long-poll all
// live on one thread and nothing is shared between shards while they run.
//
// Open loop: each request kind has a fixed timetable (snapshots every interval per game,
// chat turns at a rate); a request whose slot comes while every pooled connection is busy
// is counted not_sent and skipped, never delayed.
//
// Ownership: the runner owns the shards and joins their threads before reading stats().
// Thread-safety: run() and everything inside happen on the calling thread only.
// Failure: network errors are counted, never thrown; run() returns after duration + drain.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tools/npc-flood/flood_stats.hpp"
#include "tools/npc-flood/http_connection.hpp"
#include "tools/npc-flood/scenario.hpp"
#include "tools/npc-flood/turn_tracker.hpp"
#include "tools/npc-flood/world_sim.hpp"

namespace orch::tools {

struct shard_plan {
  int index = 0;
  boost::asio::ip::tcp::endpoint endpoint;
  std::string host;        // Host header
  std::vector<int> games;  // game indices simulated by this shard
  int connections = 1;
  double snapshot_interval_s = 2;  // per game; 0 = none
  double chat_turns_per_s = 0;     // this shard's share
  double malformed_share = 0;
  double duration_s = 10;
  double drain_s = 3;
  std::chrono::milliseconds timeout{5000};
  std::uint64_t seed = 1;
  bool listen_events = true;
  chat_mix mix;
  stall_layout stalls;               // stall mode (town-12), or walking
  bool address_round_robin = false;  // chat turns address each NPC in turn (address_period_s)
  // Ingest mode: closed loop (every connection sends the next snapshot as soon as the last
  // is answered) over many games, or open loop at `ingest_rate` snapshots/s when > 0.
  bool ingest = false;
  double ingest_rate = 0;
  bool game_id_header = false;         // X-Game-Id on every snapshot and chat turn (nginx routes by it)
  std::string game_prefix = "flood-";  // scenario game ids: prefix + index (ingest: "ingest-")
};

class flood_shard {
 public:
  flood_shard(shard_plan plan, const flood_registry& reg, int players_per_game);
  // Runs the flood to its end (duration, then drain); blocks.
  void run();
  // Complete once run() has returned.
  const flood_stats& stats() const { return stats_; }

 private:
  struct game_slot {
    std::unique_ptr<game_world> world;
    std::chrono::steady_clock::time_point next_due;
    std::chrono::steady_clock::time_point last_step;
    std::string ingest_suffix;  // ingest mode: the body after `"seq":N`
    std::uint64_t ingest_seq = 0;
  };
  struct listener {
    std::string game_id;
    std::shared_ptr<http_connection> conn;
    std::uint64_t since = 0;
    bool primed = false;  // the first answer (history before the run) has been read
    std::unique_ptr<boost::asio::steady_timer> retry;
  };
  using clock = std::chrono::steady_clock;

  void tick();
  void offer_snapshot(game_slot& g, clock::time_point now);
  void offer_chat(clock::time_point now);
  void offer_malformed(game_slot& g);
  void send_ingest(std::size_t conn_hint);
  void record(const std::string& kind, const http_result& r);
  void poll(listener& l);
  void handle_events(listener& l, const std::string& body);
  bool finished(clock::time_point now) const;
  void stop();
  std::string next_ingest_body();

  shard_plan plan_;
  boost::asio::io_context io_;
  http_pool pool_;
  boost::asio::steady_timer timer_;
  rng_t rng_;
  std::vector<game_slot> games_;
  std::vector<std::unique_ptr<listener>> listeners_;
  turn_tracker tracker_;
  clock::time_point start_, end_, drain_end_, chat_next_;
  std::size_t chat_game_ = 0;
  std::size_t ingest_game_ = 0;
  std::size_t malformed_kind_ = 0;
  bool stopped_ = false;
  flood_stats stats_;
};

}  // namespace orch::tools
