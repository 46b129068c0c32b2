// Tests workers/memory_sync_worker.cpp and workers/sync_mailbox.cpp (the rig: sync_rig.hpp;
// snapshot_worker_test.cpp has the snapshot worker's).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

#include <rapidjson/document.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "queues/dispatcher.hpp"
#include "queues/event_hub.hpp"
#include "tests/workers/sync_rig.hpp"
#include "workers/memory_sync_worker.hpp"
#include "workers/snapshot_worker.hpp"
#include "workers/sync_mailbox.hpp"

using namespace orch::workers;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using S = std::vector<std::string>;
using namespace orch::workers::sync_rig;

TEST_CASE("memory sync: first sync writes both blocks and reports the listed members") {
  rig r;
  std::vector<block_synced> synced;
  r.syncs.add_synced_listener([&](const block_synced& b) { synced.push_back(b); });
  auto res = r.snaps.process(scene(1, {at("Pete", 0, 0), at("Diamond", 4, 0), at("Goldie", 200, 0)}));
  REQUIRE(res.syncs.size() == 1);  // Goldie has no agent: no sync
  CHECK(r.run_sync(res.syncs[0]));
  CHECK(r.value("npcorch_letta_block_writes_total") == 2);
  CHECK(r.value("npcorch_letta_block_writes_naive_total") == 2);  // Pete only: Goldie has no agent
  CHECK(r.letta.log == S{"GET agent-pete group_members", "PATCH agent-pete group_members", "GET agent-pete status",
                         "PATCH agent-pete status"});
  REQUIRE(synced.size() == 1);
  CHECK(synced[0].npc_name == "Pete");
  CHECK(synced[0].members == S{"Diamond"});
  CHECK(r.letta.blocks[{"agent-pete", "status"}] == "health: unknown | location: Cafe | current_action: Idle");
  rapidjson::Document d;
  d.Parse(r.letta.blocks[{"agent-pete", "group_members"}].c_str());
  REQUIRE(d.IsObject());
  CHECK(std::string(d["summary"].GetString()) == "Current members: Diamond");

  // The same content again, not forced: both blocks read, neither written.
  CHECK(r.run_sync(res.syncs[0]));
  CHECK(r.value("npcorch_letta_block_writes_total") == 2);
  CHECK(r.value("npcorch_block_writes_skipped_total") == 2);
}

TEST_CASE("memory sync: the NPC's own notes survive the next write and count as a merge") {
  rig r;
  auto r1 = r.snaps.process(scene(1, {at("Pete", 0, 0), at("Diamond", 4, 0)}));
  REQUIRE(r.run_sync(r1.syncs[0]));
  // The agent writes a note on Diamond with its tools.
  auto& text = r.letta.blocks[{"agent-pete", "group_members"}];
  const std::string needle = "\"notes\":\"\"";
  auto at_notes = text.find(needle);
  REQUIRE(at_notes != std::string::npos);
  text.replace(at_notes, needle.size(), "\"notes\":\"likes apples\"");
  r.clock.advance(3s);
  auto r2 = r.snaps.process(scene(2, {at("Pete", 0, 0), at("Diamond", 4, 0), at("Ann", 2, 3)}));
  REQUIRE(r2.syncs.size() == 1);
  REQUIRE(r.run_sync(r2.syncs[0]));
  CHECK(r.value("npcorch_memory_merges_total") == 1);
  CHECK(r.value("npcorch_memory_conflicts_total") == 0);
  rapidjson::Document d;
  d.Parse(r.letta.blocks[{"agent-pete", "group_members"}].c_str());
  REQUIRE(d.IsObject());
  CHECK(std::string(d["members"]["Diamond"]["notes"].GetString()) == "likes apples");
  CHECK(d["members"].HasMember("Ann"));
  CHECK(std::string(d["updates"][0].GetString()) == "Ann joined the group");
}

TEST_CASE("memory sync: reads are skipped exactly when no step ran since the last write") {
  rig r;
  r.letta.steps = 0;
  auto r1 = r.snaps.process(scene(1, {at("Pete", 0, 0), at("Diamond", 4, 0)}));
  REQUIRE(r.run_sync(r1.syncs[0]));  // nothing known yet: read, then write
  CHECK(r.letta.log == S{"GET agent-pete group_members", "PATCH agent-pete group_members", "GET agent-pete status",
                         "PATCH agent-pete status"});
  CHECK(r.value("npcorch_letta_block_reads_skipped_total") == 0);
  // No step since: the group changes and both blocks are written without a read.
  r.letta.log.clear();
  r.clock.advance(3s);
  auto r2 = r.snaps.process(scene(2, {at("Pete", 0, 0), at("Diamond", 4, 0), at("Ann", 2, 3)}));
  REQUIRE(r2.syncs.size() == 1);
  REQUIRE(r.run_sync(r2.syncs[0]));
  CHECK(r.letta.log == S{"PATCH agent-pete group_members"});  // status unchanged: neither read nor written
  CHECK(r.value("npcorch_letta_block_reads_skipped_total") == 2);
  // A step ran (the agent may have edited its blocks): the next sync reads first and keeps
  // the agent's note (on the first member listed, Ann).
  auto& text = r.letta.blocks[{"agent-pete", "group_members"}];
  const std::string needle = "\"notes\":\"\"";
  auto at_notes = text.find(needle);
  REQUIRE(at_notes != std::string::npos);
  text.replace(at_notes, needle.size(), "\"notes\":\"likes apples\"");
  r.letta.steps = 1;
  r.letta.log.clear();
  r.clock.advance(3s);
  auto r3 = r.snaps.process(scene(3, {at("Pete", 0, 0), at("Diamond", 4, 0)}));  // Ann left
  REQUIRE(r3.syncs.size() == 1);
  REQUIRE(r.run_sync(r3.syncs[0]));
  CHECK(r.letta.log == S{"GET agent-pete group_members", "PATCH agent-pete group_members", "GET agent-pete status"});
  CHECK(r.value("npcorch_letta_block_reads_skipped_total") == 2);
  CHECK(r.value("npcorch_memory_merges_total") == 1);
  // And with no further step, the merged text (note included) is what the next write builds on.
  r.letta.log.clear();
  r.clock.advance(3s);
  auto r4 = r.snaps.process(scene(4, {at("Pete", 0, 0), at("Diamond", 4, 0), at("Kim", 1, 1)}));
  REQUIRE(r4.syncs.size() == 1);
  REQUIRE(r.run_sync(r4.syncs[0]));
  CHECK(r.letta.log == S{"PATCH agent-pete group_members"});
  rapidjson::Document d;
  d.Parse(r.letta.blocks[{"agent-pete", "group_members"}].c_str());
  REQUIRE(d.IsObject());
  INFO(r.letta.blocks[{"agent-pete", "group_members"}]);
  // (The note was on Ann, the first member listed, who left in r3.)
  REQUIRE(d.HasMember("notes_on_former_members"));
  CHECK(std::string(d["notes_on_former_members"]["Ann"].GetString()) == "likes apples");
  // A client that does not count steps always reads.
  r.letta.steps.reset();
  r.letta.log.clear();
  r.clock.advance(3s);
  auto r5 = r.snaps.process(scene(5, {at("Pete", 0, 0), at("Diamond", 4, 0)}));
  REQUIRE(r5.syncs.size() == 1);
  REQUIRE(r.run_sync(r5.syncs[0]));
  CHECK(r.letta.log.front() == "GET agent-pete group_members");
}

namespace {

// An edit the agent makes to its blocks between two syncs (with its tools, in a step).
void agent_edit(std::map<std::pair<std::string, std::string>, std::string>& blocks, int kind) {
  auto& members = blocks[{"agent-pete", "group_members"}];
  auto& status = blocks[{"agent-pete", "status"}];
  auto replace_first = [](std::string& s, const std::string& from, const std::string& to) {
    auto at = s.find(from);
    if (at != std::string::npos) s.replace(at, from.size(), to);
  };
  switch (kind) {
    case 0:
      replace_first(members, "\"notes\":\"\"", "\"notes\":\"owes me a coin\"");
      break;
    case 1:
      replace_first(members, "{", "{\"mood\":\"sunny\",");
      break;  // a key of its own
    case 2:
      members = "I forgot who is here.";
      break;  // not JSON
    case 3:
      replace_first(members, "Current members", "People around");
      break;  // a daemon-owned field
    case 4:
      status += "\nfeeling tired";
      break;
    case 5:
      status = "health: 5 | location: nowhere";
      break;
    case 6:
      members.clear();
      break;
    default:
      break;  // a step that changed nothing
  }
}

}  // namespace

TEST_CASE("memory sync: a sync that skips its reads writes and counts what one that reads does") {
  // Two daemons fed the same snapshots and agent edits: one whose client counts steps (reads
  // skipped while no step ran), one whose client does not (every block read). Whatever the
  // worker keeps of a block between syncs, the texts written, the writes skipped, the merges
  // and the conflicts must be the same; only the reads differ, by the reads skipped.
  rig counted, reading;
  counted.letta.steps = 0;
  const std::vector<std::string> others = {"Diamond", "Ann", "Kim", "Bo"};
  std::uint64_t seed = 7;
  auto next = [&seed](std::uint64_t n) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (seed >> 33) % n;
  };
  for (std::uint64_t seq = 1; seq <= 150; ++seq) {
    CAPTURE(seq);
    std::vector<snapshot_entity> es{at("Pete", next(4) == 0 ? 12.0 : 0.0, 0)};
    for (std::size_t i = 0; i < others.size(); ++i)
      if (next(3) != 0) es.push_back(at(others[i], 2.0 + static_cast<double>(i), 1));
    const std::uint64_t edit = next(10);
    if (edit < 8) {
      agent_edit(counted.letta.blocks, static_cast<int>(edit));
      agent_edit(reading.letta.blocks, static_cast<int>(edit));
      *counted.letta.steps += 1;
    }
    const bool force = next(8) == 0;
    for (rig* r : {&counted, &reading}) {
      r->clock.advance(3s);
      auto res = r->snaps.process(scene(seq, es));
      for (auto& s : res.syncs) {
        auto req = std::make_shared<sync_request>(*s);
        req->force = req->force || force;
        REQUIRE(r->run_sync(req));
      }
    }
    REQUIRE(counted.letta.blocks == reading.letta.blocks);
    for (const char* name : {"npcorch_letta_block_writes_total", "npcorch_block_writes_skipped_total",
                             "npcorch_memory_merges_total", "npcorch_memory_conflicts_total"}) {
      CAPTURE(name);
      REQUIRE(counted.value(name) == reading.value(name));
    }
  }
  auto gets = [](const rig& r) {
    return std::count_if(r.letta.log.begin(), r.letta.log.end(),
                         [](const std::string& l) { return l.starts_with("GET"); });
  };
  const double skipped = counted.value("npcorch_letta_block_reads_skipped_total");
  CHECK(skipped > 20);                                       // the scenario does exercise the skipped reads ...
  CHECK(counted.value("npcorch_memory_merges_total") > 10);  // ... and merges and conflicts
  CHECK(counted.value("npcorch_memory_conflicts_total") > 5);
  CHECK(static_cast<double>(gets(counted)) + skipped == static_cast<double>(gets(reading)));
  CHECK(reading.value("npcorch_letta_block_reads_skipped_total") == 0);
}

TEST_CASE("memory sync: a group_members text that is the daemon's alone is not kept, one with the NPC's notes is") {
  rig r;
  r.letta.steps = 0;
  const auto& members = r.letta.blocks[{"agent-pete", "group_members"}];
  const auto& status = r.letta.blocks[{"agent-pete", "status"}];
  auto r1 = r.snaps.process(scene(1, {at("Pete", 0, 0), at("Diamond", 4, 0)}));
  REQUIRE(r.run_sync(r1.syncs[0]));
  REQUIRE(members.size() > 100);
  CHECK(r.syncs.kept_text_bytes() == status.size());  // the members text is known by its hashes
  // The agent notes something (a step): read, merged, and the merged text kept whole.
  auto& text = r.letta.blocks[{"agent-pete", "group_members"}];
  text.replace(text.find("\"notes\":\"\""), 10, "\"notes\":\"likes apples\"");
  r.letta.steps = 1;
  r.clock.advance(3s);
  auto r2 = r.snaps.process(scene(2, {at("Pete", 0, 0), at("Diamond", 4, 0), at("Ann", 2, 3)}));
  REQUIRE(r2.syncs.size() == 1);
  REQUIRE(r.run_sync(r2.syncs[0]));
  CHECK(members.find("likes apples") != std::string::npos);
  CHECK(r.syncs.kept_text_bytes() == members.size() + status.size());
  // The agent clears its note (a step): what the daemon writes then is its own again.
  text.replace(text.find("likes apples"), 12, "");
  r.letta.steps = 2;
  r.clock.advance(3s);
  auto r3 = r.snaps.process(scene(3, {at("Pete", 0, 0), at("Ann", 2, 3)}));
  REQUIRE(r3.syncs.size() == 1);
  REQUIRE(r.run_sync(r3.syncs[0]));
  CHECK(r.syncs.kept_text_bytes() == status.size());
}

TEST_CASE("memory sync: block lag runs from the queued change to the group_members write") {
  rig r;
  auto& lag = r.metrics.get_histogram("npcorch_block_lag_seconds", "");
  auto r1 = r.snaps.process(scene(1, {at("Pete", 0, 0), at("Diamond", 4, 0)}));
  const auto seen = r.clock.now();
  r.clock.advance(1500ms);  // waited in its queue
  bool finished = false;
  r.syncs.sync(
      r1.syncs[0], [&](bool ok) { finished = ok; }, seen);
  r.io.restart();
  r.io.run();
  REQUIRE(finished);
  CHECK(lag.count() == 1);
  CHECK(lag.sum() == doctest::Approx(1.5));
  CHECK(r.run_sync(r1.syncs[0]));  // untimed (no arrival given)
  CHECK(lag.count() == 1);
}

TEST_CASE("memory sync: a failed write is retried at the NPC's next snapshot") {
  for (int failing_call = 1; failing_call <= 4; ++failing_call) {
    CAPTURE(failing_call);
    rig r;
    r.letta.fail_calls = {failing_call};
    auto r1 = r.snaps.process(scene(1, {at("Pete", 0, 0), at("Diamond", 4, 0)}));
    CHECK_FALSE(r.run_sync(r1.syncs[0]));
    CHECK(r.value("npcorch_memory_sync_failures_total") == 1);
    r.clock.advance(3s);
    auto r2 = r.snaps.process(scene(2, {at("Pete", 0, 0), at("Diamond", 4, 0)}));  // nothing changed
    REQUIRE(r2.syncs.size() == 1);
    CHECK(r2.syncs[0]->reason == orch::policies::update_reason::retry);
    CHECK(r.run_sync(r2.syncs[0]));
    CHECK(r.letta.blocks.count({"agent-pete", "group_members"}) == 1);
    CHECK(r.letta.blocks.count({"agent-pete", "status"}) == 1);
    CHECK(r.value("npcorch_group_updates_total", {{"reason", "retry"}}) == 1);
  }
}

TEST_CASE("memory sync: a shed sync is retried at the next snapshot - a coalesced one is not") {
  rig r;
  sync_mailbox box;
  auto r1 = r.snaps.process(scene(1, {at("Pete", 0, 0), at("Diamond", 4, 0)}));
  REQUIRE(r1.syncs.size() == 1);
  orch::queues::message m;
  m.kind = orch::queues::message_kind::memory_sync;
  m.payload = box.post("agent-pete", r1.syncs[0]);
  r.syncs.on_dropped(m, orch::queues::drop_reason::coalesced);
  CHECK(box.waiting() == 0);  // taken: the key sends anew
  r.clock.advance(3s);
  CHECK(r.snaps.process(scene(2, {at("Pete", 0, 0), at("Diamond", 4, 0)})).syncs.empty());
  m.payload = box.post("agent-pete", r1.syncs[0]);
  r.syncs.on_dropped(m, orch::queues::drop_reason::shed);
  CHECK(box.waiting() == 0);
  CHECK(r.value("npcorch_memory_sync_dropped_total") == 1);
  r.clock.advance(3s);
  auto r3 = r.snaps.process(scene(3, {at("Pete", 0, 0), at("Diamond", 4, 0)}));
  REQUIRE(r3.syncs.size() == 1);
  CHECK(r3.syncs[0]->reason == orch::policies::update_reason::retry);
}

TEST_CASE("sync mailbox: one letter waits per key - a newer request replaces its request until the sync takes it") {
  sync_mailbox box;
  auto req = [](std::string npc) {
    auto r = std::make_shared<sync_request>();
    r->npc_name = std::move(npc);
    r->agent_id = "agent-" + r->npc_name;
    return std::shared_ptr<const sync_request>(std::move(r));
  };
  auto first = req("Pete");
  auto a = box.post("agent-pete", first);
  REQUIRE(a);
  auto b = box.post("agent-kaiden", req("Kaiden"));
  REQUIRE(b);
  CHECK(box.waiting() == 2);
  auto newer = req("Pete");
  CHECK(box.post("agent-pete", newer) == nullptr);  // replaced a's request: nothing to send
  CHECK(first.use_count() == 1);                    // the older request is gone from the letter
  CHECK(box.waiting() == 2);
  CHECK(a->take() == newer);
  CHECK(a->take() == nullptr);  // taken once
  CHECK(box.waiting() == 1);
  // Taken: the key's next request travels in a new letter, while the old one is being synced.
  auto c = box.post("agent-pete", req("Pete"));
  REQUIRE(c);
  CHECK(c != a);
  CHECK(box.waiting() == 2);
  a.reset();  // the finished letter leaves no trace
  CHECK(box.waiting() == 2);
  // A letter dropped without being taken (a message destroyed unhandled) stops waiting too.
  b.reset();
  CHECK(box.waiting() == 1);
  auto d = box.post("agent-kaiden", req("Kaiden"));
  CHECK(d != nullptr);
  c.reset();
  CHECK(box.waiting() == 1);
  // The replaced request can be handed out (for recycling) instead of freed; a new letter hands
  // out nothing.
  const auto older = req("Kaiden"), newest = req("Kaiden");
  CHECK(box.post("agent-kaiden", older) == nullptr);
  std::shared_ptr<const sync_request> replaced;
  CHECK(box.post("agent-kaiden", newest, &replaced) == nullptr);
  CHECK(replaced == older);
  CHECK(d->take() == newest);
  replaced = nullptr;
  auto e = box.post("agent-kaiden", req("Kaiden"), &replaced);
  CHECK(e != nullptr);
  CHECK(replaced == nullptr);
}
