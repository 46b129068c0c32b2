// Tests workers/game_state.cpp's sync decisions: update reasons, no-op skips, the member lists
// requests share, and requests recycled once the mailbox replaced them. Manual clock.
#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/workers/game_state_support.hpp"
#include "workers/game_state.hpp"

using namespace orch::workers;
using namespace orch::workers::game_state_support;
using namespace std::chrono_literals;
using orch::policies::manual_clock;
using orch::policies::update_reason;
using S = std::vector<std::string>;

TEST_CASE("game state: group update reasons, no-op skips, stale and forced rewrites, retry") {
  manual_clock clock;
  world_options o;
  game_state g("g1", o, registry());
  std::uint64_t seq = 0;
  auto step = [&](std::vector<snapshot_entity> es) {
    clock.advance(3s);
    return g.apply(scene(++seq, std::move(es)), clock.now());
  };
  auto r = step({at("Pete", 0, 0), at("Ann", 5, 0)});
  REQUIRE(r.syncs.size() == 1);
  CHECK(r.stats.updates[static_cast<std::size_t>(update_reason::changed)] == 1);
  CHECK_FALSE(r.syncs[0]->force);
  // Ann's appearance arrives: her name is unchanged but the block text changes.
  auto ann = at("Ann", 5, 0);
  ann.appearance = "red scarf";
  r = step({at("Pete", 0, 0), ann});
  CHECK(r.stats.cache_hits == 1);  // members/location/action unchanged: a hit ...
  // ... and after stale_after (30 s) without a write, a stale rewrite carries the appearance.
  for (int i = 0; i < 8; ++i) r = step({at("Pete", 0, 0), ann});
  CHECK(r.stats.cache_hits == 1);
  r = step({at("Pete", 0, 0), ann});  // 30 s since the write
  REQUIRE(r.syncs.size() == 1);
  CHECK(r.stats.updates[static_cast<std::size_t>(update_reason::stale)] == 1);
  CHECK(r.syncs[0]->force);
  CHECK(members_block_of(*r.syncs[0]).members[0].appearance == "red scarf");

  // Pete starts moving: only the status changes -> a changed sync.
  auto moving = at("Pete", 0, 0);
  moving.health->is_moving = true;
  r = step({moving, ann});
  REQUIRE(r.syncs.size() == 1);
  CHECK(r.syncs[0]->status.find("Moving") != std::string::npos);

  // The sync fails: the next snapshot writes again, although nothing changed.
  CHECK(g.mark_sync_failed("agent-pete"));
  CHECK_FALSE(g.mark_sync_failed("agent-nobody"));
  r = step({moving, ann});
  REQUIRE(r.syncs.size() == 1);
  CHECK(r.syncs[0]->reason == update_reason::retry);
  r = step({moving, ann});
  CHECK(r.syncs.empty());

  // Forced after force_refresh (300 s) even with writes in between.
  bool forced = false;
  for (int i = 0; i < 120 && !forced; ++i) {
    r = step({moving, ann});
    forced = r.stats.updates[static_cast<std::size_t>(update_reason::forced)] == 1;
  }
  CHECK(forced);
}

TEST_CASE("game state: a changed state whose blocks hash the same is a skipped no-op") {
  manual_clock clock;
  game_state g("g1", world_options{}, registry());
  // Without a position the game's own location is used; "Unknown" and no location at all
  // render the same status text.
  snapshot_entity p;
  p.name = "Pete";
  p.location = "Unknown";
  snapshot s1;
  s1.seq = 1;
  s1.entities = {p};
  auto r = g.apply(s1, clock.now());
  REQUIRE(r.syncs.size() == 1);
  clock.advance(3s);
  p.location.reset();
  snapshot s2 = s1;
  s2.seq = 2;
  s2.entities = {p};
  r = g.apply(s2, clock.now());
  CHECK(r.syncs.empty());
  CHECK(r.stats.skipped_noops == 1);
  CHECK(r.stats.cache_hits == 0);
  const auto* st = g.group_state_of("agent-pete");
  REQUIRE(st != nullptr);
  CHECK(st->location.empty());  // the new state is cached ...
  clock.advance(3s);
  s2.seq = 3;
  r = g.apply(s2, clock.now());
  CHECK(r.stats.cache_hits == 1);  // ... so the next snapshot is a plain hit
}

TEST_CASE("game state: sync requests of one cluster share its member list - a later apply leaves them as built") {
  manual_clock clock;
  game_state g("g1", world_options{}, registry());
  auto r1 = g.apply(scene(1, {at("Pete", 0, 0), at("Kaiden", 5, 0)}), clock.now());
  REQUIRE(r1.syncs.size() == 2);
  const auto pete1 = r1.syncs[1];  // sorted by name: Kaiden, Pete
  REQUIRE(pete1->npc_name == "Pete");
  // One list for the cluster (both names, each request leaves its own NPC out), built once.
  REQUIRE(r1.syncs[0]->cluster != nullptr);
  CHECK(r1.syncs[0]->cluster == pete1->cluster);
  CHECK(pete1->cluster->size() == 2);
  CHECK(member_names_of(*pete1) == S{"Kaiden"});
  CHECK(member_names_of(*r1.syncs[0]) == S{"Pete"});
  CHECK(pete1->last_updated_s == 1737874901);
  CHECK(members_block_of(*pete1).last_updated == "2025-01-26T07:01:41Z");
  CHECK(members_block_of(*pete1).members[0].last_seen == "2025-01-26T07:01:41Z");

  // Kaiden leaves: Pete's next request gets new update lines and no cluster; the first
  // request, perhaps still queued, keeps what it said.
  clock.advance(1s);
  auto r2 = g.apply(scene(2, {at("Pete", 0, 0), at("Kaiden", 50, 0)}), clock.now());
  const auto* pete2 = sync_of(r2, "Pete");
  REQUIRE(pete2 != nullptr);
  CHECK(pete2->cluster == nullptr);
  CHECK(members_block_of(*pete2).members.empty());
  CHECK(members_block_of(*pete2).updates == S{"Kaiden left the group", "Kaiden joined the group"});
  CHECK(pete2->updates != pete1->updates);
  CHECK(pete1->updates->to_vector() == S{"Kaiden joined the group"});
  CHECK(member_names_of(*pete1) == S{"Kaiden"});
}

// A new view is filled in place of an older one no reader holds any more: a view someone
// holds never changes, whichever apply comes later.

namespace {

// Two requests say the same: every field, the member list and the update lines by content.
void check_same_request(const sync_request& got, const sync_request& want) {
  CHECK(got.game_id == want.game_id);
  CHECK(got.npc_name == want.npc_name);
  CHECK(got.agent_id == want.agent_id);
  CHECK((got.cluster == nullptr) == (want.cluster == nullptr));
  CHECK((got.updates == nullptr) == (want.updates == nullptr));
  CHECK(got.last_updated_s == want.last_updated_s);
  CHECK(got.status == want.status);
  CHECK(got.force == want.force);
  CHECK(got.reason == want.reason);
  const auto a = members_block_of(got), b = members_block_of(want);
  REQUIRE(a.members.size() == b.members.size());
  for (std::size_t i = 0; i < a.members.size(); ++i) {
    CHECK(a.members[i].name == b.members[i].name);
    CHECK(a.members[i].appearance == b.members[i].appearance);
    CHECK(a.members[i].last_seen == b.members[i].last_seen);
  }
  CHECK(a.updates == b.updates);
  CHECK(a.last_updated == b.last_updated);
}

}  // namespace

TEST_CASE("game state: a recycled request is reused whole, one still held is not taken, spares are capped") {
  manual_clock clock;
  world_options o;
  game_state recycling("g1", o, registry()), fresh("g1", o, registry());
  std::uint64_t seq = 0;
  apply_result ra, rb;
  auto step = [&](std::vector<snapshot_entity> es) {
    clock.advance(3s);
    ++seq;
    ra = recycling.apply(scene(seq, es), clock.now());
    rb = fresh.apply(scene(seq, std::move(es)), clock.now());
    REQUIRE(ra.syncs.size() == rb.syncs.size());
    for (std::size_t i = 0; i < ra.syncs.size(); ++i) check_same_request(*ra.syncs[i], *rb.syncs[i]);
  };
  auto ann = at("Ann", 5, 0);
  ann.appearance = "red scarf";
  step({at("Pete", 0, 0), ann, at("Kaiden", 3, 1)});
  REQUIRE(ra.syncs.size() == 2);  // Kaiden and Pete, in name order
  const sync_request* kaiden_req = ra.syncs[0].get();
  const sync_request* pete_req = ra.syncs[1].get();
  REQUIRE(pete_req->npc_name == "Pete");
  REQUIRE(pete_req->cluster != nullptr);
  const std::weak_ptr<const std::vector<sync_member>> list = pete_req->cluster;
  for (auto& r : ra.syncs) recycling.recycle(std::move(r));
  CHECK(recycling.spare_requests() == 2);
  // A spare lets go of its member list at once: once the apply's scratch is gone too (the next
  // apply, which decides nothing new here), nothing holds it.
  step({at("Pete", 0, 0), ann, at("Kaiden", 3, 1)});
  CHECK(ra.syncs.empty());
  CHECK(list.expired());
  // Pete alone now: his request is a recycled object (no member list, other status and
  // update lines), and it says exactly what a fresh one says.
  step({at("Pete", 0, 0), at("Ann", 80, 0), at("Kaiden", 83, 1)});
  REQUIRE(ra.syncs.size() == 2);
  // Both are the spares (Kaiden and Ann moved off together), one object each.
  const std::set<const sync_request*> spares{pete_req, kaiden_req};
  CHECK(spares.count(ra.syncs[0].get()) == 1);
  CHECK(spares.count(ra.syncs[1].get()) == 1);
  CHECK(ra.syncs[0].get() != ra.syncs[1].get());
  CHECK(ra.syncs[0]->npc_name == "Kaiden");
  CHECK(ra.syncs[1]->npc_name == "Pete");
  CHECK(recycling.spare_requests() == 0);
  // A request someone still holds (a sync running with it) is not taken; it stays as it was.
  const auto held = ra.syncs[1];
  const std::string held_status = held->status;
  recycling.recycle(ra.syncs[1]);
  CHECK(recycling.spare_requests() == 0);
  recycling.recycle(nullptr);
  CHECK(recycling.spare_requests() == 0);
  step({at("Pete", 0, 0), ann, at("Kaiden", 83, 1)});
  REQUIRE(!ra.syncs.empty());
  CHECK(held->npc_name == "Pete");
  CHECK(held->status == held_status);
  for (const auto& r : ra.syncs) CHECK(r.get() != held.get());
  // A request of another game is not taken either.
  auto other = std::make_shared<sync_request>();
  other->game_id = "g2";
  recycling.recycle(std::move(other));
  CHECK(recycling.spare_requests() == 0);
  // A retry (forced) request reused for a change says "changed" and is not forced, as a fresh
  // one is: reason and force are written anew.
  CHECK(recycling.mark_sync_failed("agent-pete"));
  CHECK(fresh.mark_sync_failed("agent-pete"));
  step({at("Pete", 0, 0), ann, at("Kaiden", 83, 1)});
  REQUIRE(ra.syncs.size() == 1);
  CHECK(ra.syncs[0]->reason == update_reason::retry);
  CHECK(ra.syncs[0]->force);
  const sync_request* retry_req = ra.syncs[0].get();
  recycling.recycle(std::move(ra.syncs[0]));
  CHECK(recycling.spare_requests() == 1);
  auto moving = at("Pete", 0, 0);  // only Pete's status changes
  moving.health->is_moving = true;
  step({moving, ann, at("Kaiden", 83, 1)});
  REQUIRE(ra.syncs.size() == 1);
  CHECK(ra.syncs[0].get() == retry_req);
  CHECK(ra.syncs[0]->reason == update_reason::changed);
  CHECK_FALSE(ra.syncs[0]->force);
  // At most spare_request_cap wait.
  for (std::size_t i = 0; i < game_state::spare_request_cap + 5; ++i) {
    auto spare = std::make_shared<sync_request>();
    spare->game_id = "g1";
    recycling.recycle(std::move(spare));
  }
  CHECK(recycling.spare_requests() == game_state::spare_request_cap);
  step({at("Pete", 0, 0), at("Ann", 80, 0), at("Kaiden", 3, 1)});
  CHECK(!ra.syncs.empty());
}
