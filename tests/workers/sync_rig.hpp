#pragma once
// What the memory sync and snapshot worker tests share: an in-memory fake Letta client
// (callbacks posted to an io_context, as the real client's are), a registry of three NPCs (two
// with agents), entities on the ground, snapshots of game "g1", and a rig of event hub,
// dispatcher, snapshot worker and memory sync worker on a manual clock.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "queues/dispatcher.hpp"
#include "queues/event_hub.hpp"
#include "workers/memory_sync_worker.hpp"
#include "workers/snapshot_worker.hpp"

namespace orch::workers::sync_rig {

namespace asio = boost::asio;
using namespace std::chrono_literals;
// Blocks in a map; fails every call whose number (1-based) is in `fail_calls`.
class fake_letta final : public letta_client {
 public:
  explicit fake_letta(asio::io_context& io) : io_(io) {}
  std::map<std::pair<std::string, std::string>, std::string> blocks;
  std::vector<std::string> log;  // "GET agent label" / "PATCH agent label"
  std::vector<int> fail_calls;
  int calls = 0;
  std::optional<std::uint64_t> steps;  // message steps per agent as the client counts them (nullopt: unknown)

  std::optional<std::uint64_t> message_steps(const std::string&) const override { return steps; }

  void send_messages(const std::string&, std::vector<letta_message>, reply_fn cb) override {
    asio::post(io_, [cb] { cb(letta_result{true, 200, "", 1}, letta_reply{}); });
  }
  void get_block(const std::string& agent, const std::string& label, block_fn cb) override {
    log.push_back("GET " + agent + " " + label);
    const bool fail = failing();
    auto it = blocks.find({agent, label});
    const bool found = it != blocks.end();
    std::string v = found ? it->second : std::string();
    asio::post(io_, [cb, fail, found, v] {
      if (fail) return cb(letta_result{false, 503, "http_503", 5}, "");
      if (!found) return cb(letta_result{false, 404, "not_found", 1}, "");
      cb(letta_result{true, 200, "", 1}, v);
    });
  }
  void update_block(const std::string& agent, const std::string& label, std::string value, done_fn cb) override {
    log.push_back("PATCH " + agent + " " + label);
    const bool fail = failing();
    if (!fail) blocks[{agent, label}] = value;
    asio::post(io_, [cb, fail] { cb(fail ? letta_result{false, 0, "timeout", 5} : letta_result{true, 200, "", 1}); });
  }
  void get_agent(const std::string&, done_fn cb) override {
    asio::post(io_, [cb] { cb(letta_result{true, 200, "", 1}); });
  }
  void health(done_fn cb) override {
    asio::post(io_, [cb] { cb(letta_result{true, 200, "", 1}); });
  }

 private:
  bool failing() {
    ++calls;
    for (int n : fail_calls)
      if (n == calls) return true;
    return false;
  }
  asio::io_context& io_;
};

inline std::shared_ptr<const world_registry> registry() {
  return std::make_shared<world_registry>(
      std::vector<npc_info>{{"npc-pete", "Pete", "A merchant", "agent-pete"},
                            {"npc-kaiden", "Kaiden", "A guard", "agent-kaiden"},
                            {"npc-goldie", "Goldie", "A fox", ""}},
      std::vector<location_info>{{"cafe", "Cafe", {12.0, 3.0, -40.5}, "A small cafe"}});
}

inline snapshot_entity at(std::string name, double x, double z) {
  snapshot_entity e;
  e.name = std::move(name);
  e.position = vec3{x, 3.0, z};
  return e;
}

inline snapshot scene(std::uint64_t seq, std::vector<snapshot_entity> es) {
  snapshot s;
  s.game_id = "g1";
  s.seq = seq;
  s.timestamp = 1737874900;
  s.entities = std::move(es);
  return s;
}

struct rig {
  asio::io_context io;
  orch::policies::manual_clock clock;
  orch::metrics::registry metrics;
  orch::queues::event_hub hub{256, 16, metrics};
  orch::queues::dispatcher disp{io, orch::queues::queues_config::defaults(), clock, metrics};
  fake_letta letta{io};
  snapshot_worker snaps{world_options{}, registry(), hub, disp, clock, metrics};
  memory_sync_worker syncs{letta, snaps, clock, metrics};

  bool run_sync(const std::shared_ptr<const sync_request>& req) {
    bool finished = false, result = false;
    syncs.sync(req, [&](bool ok) {
      finished = true;
      result = ok;
    });
    io.restart();
    io.run();
    REQUIRE(finished);
    return result;
  }
  double value(const std::string& name, const orch::metrics::labels& l = {}) { return metrics.value(name, l); }
  // Hands a snapshot to the worker as the dispatcher would, then lets 3 s pass.
  void handle_snapshot(snapshot s) {
    orch::queues::message m;
    m.kind = orch::queues::message_kind::snapshot;
    m.key = "g1";
    m.payload = std::make_shared<snapshot>(std::move(s));
    snaps.handle(std::move(m), orch::queues::completion{});
    clock.advance(3s);
  }
};

}  // namespace orch::workers::sync_rig
