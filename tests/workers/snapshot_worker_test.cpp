// Tests workers/snapshot_worker.cpp: events, views and listeners in order, memory syncs through
// the dispatcher and the sync mailbox, request recycling, the NPC-to-game map (the rig:
// sync_rig.hpp).
#include <doctest/doctest.h>

#include <chrono>
#include <map>

#include "tests/workers/sync_rig.hpp"
#include "workers/snapshot_worker.hpp"

using namespace orch::workers;
using namespace orch::workers::sync_rig;
using namespace std::chrono_literals;
using S = std::vector<std::string>;

TEST_CASE("snapshot worker: events before view and listeners - stale counted - game_of_npc") {
  rig r;
  std::vector<std::uint64_t> seen_seq;
  r.snaps.add_diff_listener([&](const cluster_diff& d) {
    seen_seq.push_back(r.hub.last_seq("g1"));
    CHECK(r.snaps.view("g1") == d.view);
  });
  r.snaps.process(scene(1, {at("Pete", 0, 0), at("Kaiden", 4, 0), at("Diamond", 100, 0), at("Ann", 104, 0)}));
  REQUIRE(seen_seq.size() == 1);
  CHECK(seen_seq[0] == 2);  // both cluster_updates were out before the listener ran
  auto ev = r.hub.read("g1", 0, 10);
  REQUIRE(ev.events.size() == 2);
  CHECK(ev.events[0]->json.find("\"type\":\"cluster_update\"") != std::string::npos);
  CHECK(r.value("npcorch_clusters") == 2);
  CHECK(r.value("npcorch_cluster_updates_total") == 2);
  CHECK(r.value("npcorch_cluster_joins_total") == 4);
  r.snaps.process(scene(1, {at("Pete", 0, 0)}));
  CHECK(r.value("npcorch_snapshots_stale_total") == 1);
  CHECK(r.value("npcorch_snapshots_applied_total") == 1);
  CHECK(r.snaps.game_of_npc("npc-kaiden") == "g1");
  CHECK(r.snaps.game_of_npc("Kaiden") == "g1");
  CHECK(r.snaps.game_of_npc("nobody").empty());
  CHECK(r.snaps.view("other") == nullptr);
  // Kaiden leaves: one update with the departure, the clusters gauge follows.
  r.snaps.process(scene(2, {at("Pete", 0, 0), at("Diamond", 100, 0), at("Ann", 104, 0)}));
  CHECK(r.value("npcorch_clusters") == 1);
  CHECK(r.value("npcorch_cluster_leaves_total") == 2);
  CHECK(r.hub.last_seq("g1") == 3);
}

TEST_CASE("snapshot worker: handle() through the dispatcher queues coalescing memory syncs") {
  rig r;
  int synced = 0;
  r.syncs.add_synced_listener([&](const block_synced&) { ++synced; });
  r.disp.set_handler(orch::queues::message_kind::snapshot, [&](orch::queues::message m, orch::queues::completion c) {
    r.snaps.handle(std::move(m), std::move(c));
  });
  r.disp.set_handler(orch::queues::message_kind::memory_sync, [&](orch::queues::message m, orch::queues::completion c) {
    r.syncs.handle(std::move(m), std::move(c));
  });
  r.disp.start();
  orch::queues::message m;
  m.kind = orch::queues::message_kind::snapshot;
  m.key = "g1";
  m.payload = std::make_shared<snapshot>(scene(1, {at("Pete", 0, 0), at("Kaiden", 4, 0)}));
  REQUIRE(r.disp.submit(std::move(m)).status == orch::queues::submit_status::accepted);
  for (int i = 0; i < 200 && r.value("npcorch_letta_block_writes_total") < 4; ++i) r.io.run_one_for(50ms);
  CHECK(r.value("npcorch_letta_block_writes_total") == 4);
  CHECK(synced == 2);
  CHECK(r.letta.blocks.size() == 4);
}

TEST_CASE("snapshot worker: a newer sync replaces the waiting one before the queue - counted as coalesced") {
  rig r;
  std::vector<block_synced> synced;
  r.syncs.add_synced_listener([&](const block_synced& b) { synced.push_back(b); });
  r.disp.set_handler(orch::queues::message_kind::memory_sync, [&](orch::queues::message m, orch::queues::completion c) {
    r.syncs.handle(std::move(m), std::move(c));
  });
  r.disp.start();
  // Three snapshots handled before any sync runs: each changes both NPCs' groups.
  auto handle = [&](snapshot s) { r.handle_snapshot(std::move(s)); };
  handle(scene(1, {at("Pete", 0, 0), at("Kaiden", 4, 0)}));
  handle(scene(2, {at("Pete", 0, 0), at("Kaiden", 4, 0), at("Diamond", 6, 0)}));
  handle(scene(3, {at("Pete", 0, 0), at("Diamond", 4, 0), at("Kaiden", 200, 0)}));
  const orch::metrics::labels background{{"queue", "background"}};
  CHECK(r.value("npcorch_group_updates_total", {{"reason", "changed"}}) == 6);
  CHECK(r.value("npcorch_queue_accepted_total", background) == 6);   // every sync decided counts
  CHECK(r.value("npcorch_queue_coalesced_total", background) == 4);  // two letters carried the newest
  for (int i = 0; i < 200 && r.value("npcorch_letta_block_writes_total") < 4; ++i) r.io.run_one_for(50ms);
  REQUIRE(synced.size() == 2);
  CHECK(r.value("npcorch_letta_block_writes_total") == 4);
  // The syncs that ran were the third snapshot's: Pete with Diamond, Kaiden alone.
  std::map<std::string, S> members;
  for (const auto& b : synced) members[b.npc_name] = b.members;
  CHECK(members["Pete"] == S{"Diamond"});
  CHECK(members["Kaiden"] == S{});
  CHECK(r.value("npcorch_memory_sync_dropped_total") == 0);
  // Nothing waits any more: the next change sends a new letter, which runs.
  handle(scene(4, {at("Pete", 0, 0), at("Kaiden", 4, 0)}));
  CHECK(r.value("npcorch_queue_coalesced_total", background) == 4);
  for (int i = 0; i < 200 && r.value("npcorch_letta_block_writes_total") < 6; ++i) r.io.run_one_for(50ms);
  CHECK(synced.size() == 4);
  CHECK(r.value("npcorch_queue_accepted_total", background) == 8);
}

TEST_CASE("snapshot worker: requests replaced in a waiting letter go back to their game and are reused") {
  rig r;  // the dispatcher never runs: every letter waits
  auto handle = [&](snapshot s) { r.handle_snapshot(std::move(s)); };
  // Each snapshot changes both NPCs' groups: two syncs each.
  handle(scene(1, {at("Pete", 0, 0), at("Kaiden", 4, 0)}));  // two letters
  // Nothing replaced yet: the next decisions are new objects.
  auto fresh = r.snaps.process(scene(2, {at("Pete", 0, 0), at("Kaiden", 4, 0), at("Diamond", 6, 0)}));
  CHECK(fresh.syncs.size() == 2);
  CHECK(fresh.stats.requests_recycled == 0);
  r.clock.advance(3s);
  // handle() posts this snapshot's two requests into the waiting letters; the two they
  // replace (the first snapshot's) go back to the game.
  handle(scene(3, {at("Pete", 0, 0), at("Diamond", 4, 0), at("Kaiden", 200, 0)}));
  CHECK(r.value("npcorch_queue_coalesced_total", {{"queue", "background"}}) == 2);
  auto next = r.snaps.process(scene(4, {at("Pete", 0, 0), at("Kaiden", 4, 0)}));
  REQUIRE(next.syncs.size() == 2);
  CHECK(next.stats.requests_recycled == 2);
  // Reused, they say what this snapshot decided: Pete with Kaiden and the other way round.
  std::map<std::string, S> members;
  for (const auto& q : next.syncs) members[q->npc_name] = orch::workers::member_names_of(*q);
  CHECK(members["Pete"] == S{"Kaiden"});
  CHECK(members["Kaiden"] == S{"Pete"});
}

TEST_CASE("snapshot worker: only registry NPCs are mapped to a game - invented npc ids are counted, not kept") {
  rig r;
  std::vector<snapshot_entity> es{at("Pete", 0, 0), at("Kaiden", 4, 0)};
  for (int i = 0; i < 50; ++i) {
    auto e = at("Bot" + std::to_string(i), 100.0 + 20 * i, 0);
    e.kind = "npc";
    e.id = "invented-" + std::to_string(i);
    es.push_back(std::move(e));
  }
  auto spoof = at("Impostor", 300, 300);
  spoof.kind = "npc";
  spoof.id = "npc-pete-2";
  es.push_back(std::move(spoof));
  r.snaps.process(scene(1, std::move(es)));
  CHECK(r.value("npcorch_snapshot_unknown_npcs_total") == 51);
  CHECK(r.snaps.game_of_npc("Bot3").empty());
  CHECK(r.snaps.game_of_npc("invented-3").empty());
  CHECK(r.snaps.game_of_npc("npc-pete-2").empty());
  // Registry NPCs are found by id and by display name.
  CHECK(r.snaps.game_of_npc("npc-pete") == "g1");
  CHECK(r.snaps.game_of_npc("Pete") == "g1");
  CHECK(r.snaps.game_of_npc("Kaiden") == "g1");
}
