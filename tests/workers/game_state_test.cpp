// Tests workers/game_state.cpp: the snapshot worker's core (apply -> diff, events, syncs),
// driven by a manual clock.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <rapidjson/document.h>

#include "tests/eventually.hpp"
#include "workers/game_state.hpp"

using namespace orch::workers;
using namespace std::chrono_literals;
using orch::policies::manual_clock;
using orch::policies::update_reason;
using S = std::vector<std::string>;

namespace {

std::shared_ptr<const world_registry> registry() {
  return std::make_shared<world_registry>(
      std::vector<npc_info>{{"npc-pete", "Pete", "A merchant", "agent-pete"},
                            {"npc-kaiden", "Kaiden", "A guard", "agent-kaiden"},
                            {"npc-goldie", "Goldie", "A fox", ""}},
      std::vector<location_info>{{"cafe", "Cafe", {12.0, 3.0, -40.5}, "A small cafe"},
                                 {"plaza", "Town Plaza", {10.0, 3.0, -10.0}, "The square"}});
}

snapshot_entity at(std::string name, double x, double z) {
  snapshot_entity e;
  e.name = std::move(name);
  e.position = vec3{x, 3.0, z};
  e.health = entity_health{100.0, 100.0, std::string("Running"), false, 0.0};
  return e;
}

snapshot scene(std::uint64_t seq, std::vector<snapshot_entity> es) {
  snapshot s;
  s.game_id = "g1";
  s.seq = seq;
  s.timestamp = 1737874900 + static_cast<std::int64_t>(seq);
  s.entities = std::move(es);
  return s;
}

const cluster_change* change_of(const apply_result& r, const std::string& id) {
  for (const auto& c : r.diff.changes)
    if (c.cluster_id == id) return &c;
  return nullptr;
}

// Where walker i stands at step k (pairs 2 studs apart, 50 studs between pairs, 0.5 a step).
double walker_x(int i, double k) { return (i / 2) * 50 + (i % 2) * 2 + k * 0.5; }

const sync_request* sync_of(const apply_result& r, const std::string& npc) {
  for (const auto& s : r.syncs)
    if (s->npc_name == npc) return s.get();
  return nullptr;
}

}  // namespace

TEST_CASE("game state: clusters, events with positions, view, location and action") {
  manual_clock clock;
  game_state g("g1", world_options{}, registry());
  auto pete = at("Pete", 10, -12);
  auto kaiden = at("Kaiden", 14.5, -11);
  kaiden.health->current = 60.0;
  auto diamond = at("Diamond", 7.87, -12.006);
  diamond.kind = "player";
  diamond.id = "2154372";
  diamond.appearance = "a tall avatar in a blue hoodie";
  auto goldie = at("Goldie", 60, 40);
  goldie.health->state = "Dead";
  auto r = g.apply(scene(1, {pete, kaiden, diamond, goldie}), clock.now());
  REQUIRE_FALSE(r.stale);
  REQUIRE(r.diff.changes.size() == 1);
  CHECK(r.diff.changes[0].cluster_id == "c1");
  CHECK(r.diff.changes[0].members == S{"Diamond", "Kaiden", "Pete"});
  CHECK(r.diff.changes[0].joined == S{"Diamond", "Kaiden", "Pete"});
  CHECK(r.clusters == 1);
  CHECK(r.stats.joins == 3);

  REQUIRE(r.events.size() == 1);
  rapidjson::Document d;
  std::string json;
  orch::queues::render_event(1, r.events[0], json);
  d.Parse(json.c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["type"].GetString()) == "cluster_update");
  CHECK(std::string(d["clusterId"].GetString()) == "c1");
  CHECK(d["members"].Size() == 3);
  CHECK(d["positions"]["Diamond"]["x"].GetDouble() == doctest::Approx(7.87));
  CHECK(d["positions"].MemberCount() == 3);
  CHECK(d["left"].Size() == 0);

  const auto& v = *r.diff.view;
  CHECK(v.entities.at("Pete").location == "Town Plaza");
  CHECK(v.entities.at("Pete").is_npc);
  CHECK(v.entities.at("Pete").agent_id == "agent-pete");
  CHECK(v.entities.at("Kaiden").action == "Injured");
  CHECK(v.entities.at("Goldie").action == "Dead");
  CHECK(v.entities.at("Goldie").cluster_id.empty());
  CHECK_FALSE(v.entities.at("Diamond").is_npc);
  CHECK(v.entities.at("Diamond").cluster_id == "c1");

  // Pete and Kaiden have agents; Goldie has none: 2 NPCs x 2 blocks naive.
  CHECK(r.stats.naive_writes == 4);
  REQUIRE(r.syncs.size() == 2);
  const auto* ps = sync_of(r, "Pete");
  REQUIRE(ps != nullptr);
  CHECK(ps->agent_id == "agent-pete");
  CHECK(member_names_of(*ps) == S{"Diamond", "Kaiden"});
  CHECK(ps->status == "health: 100 | location: Town Plaza | current_action: Idle");
  REQUIRE(members_block_of(*ps).members.size() == 2);
  CHECK(members_block_of(*ps).members[0].appearance == "a tall avatar in a blue hoodie");
  CHECK(members_block_of(*ps).members[1].appearance == "A guard");
  CHECK(members_block_of(*ps).updates == S{"Diamond, Kaiden joined the group"});
}

TEST_CASE("game state: stale seq is dropped - moves under the threshold are ignored") {
  manual_clock clock;
  game_state g("g1", world_options{}, registry());
  g.apply(scene(5, {at("Pete", 0, 0), at("Kaiden", 5, 0)}), clock.now());
  auto stale = g.apply(scene(5, {at("Pete", 100, 100)}), clock.now());
  CHECK(stale.stale);
  CHECK(stale.diff.changes.empty());
  clock.advance(3s);
  // Kaiden moves 0.05 studs: no change at all, a cache hit for both NPCs.
  auto r = g.apply(scene(6, {at("Pete", 0, 0), at("Kaiden", 5.05, 0)}), clock.now());
  CHECK(r.diff.changes.empty());
  CHECK(r.syncs.empty());
  CHECK(r.stats.cache_hits == 2);
  CHECK(r.diff.view->entities.at("Kaiden").position->x == doctest::Approx(5.0));
}

TEST_CASE("game state: stable ids, a move from one cluster to another, dissolve in the same snapshot") {
  manual_clock clock;
  game_state g("g1", world_options{}, registry());
  auto r1 =
      g.apply(scene(1, {at("A", 0, 0), at("B", 5, 0), at("X", 8, 0), at("C", 100, 0), at("D", 105, 0)}), clock.now());
  REQUIRE(r1.diff.changes.size() == 2);
  CHECK(r1.diff.view->entities.at("A").cluster_id == "c1");
  CHECK(r1.diff.view->entities.at("C").cluster_id == "c2");
  clock.advance(3s);
  // X walks over to C and D.
  auto r2 =
      g.apply(scene(2, {at("A", 0, 0), at("B", 5, 0), at("X", 98, 0), at("C", 100, 0), at("D", 105, 0)}), clock.now());
  REQUIRE(r2.diff.changes.size() == 2);
  CHECK(change_of(r2, "c1")->left == S{"X"});
  CHECK(change_of(r2, "c2")->joined == S{"X"});
  CHECK(r2.events.size() == 2);
  clock.advance(3s);
  // B is missing from the snapshot: c1 dissolves in this very snapshot, A and B left.
  auto r3 = g.apply(scene(3, {at("A", 0, 0), at("X", 98, 0), at("C", 100, 0), at("D", 105, 0)}), clock.now());
  REQUIRE(r3.diff.changes.size() == 1);
  CHECK(r3.diff.changes[0].cluster_id == "c1");
  CHECK(r3.diff.changes[0].members.empty());
  CHECK(r3.diff.changes[0].left == S{"A", "B"});
  CHECK(r3.clusters == 1);
  CHECK(g.cluster_count() == 1);
}

TEST_CASE("game state: without positions the game's clusters are kept as they are") {
  manual_clock clock;
  game_state g("g1", world_options{}, registry());
  snapshot s;
  s.game_id = "g1";
  s.timestamp = 1737874917;
  s.clusters = {{{"Kaiden", "Goldie", "Oscar", "Noobster", "Diamond"}, 5, 0}, {{"Pete"}, 1, 0}};
  snapshot_entity diamond;
  diamond.name = "Diamond";
  s.entities = {diamond};
  auto r = g.apply(s, clock.now());
  REQUIRE(r.diff.changes.size() == 1);
  CHECK(r.diff.changes[0].members == S{"Diamond", "Goldie", "Kaiden", "Noobster", "Oscar"});
  CHECK(r.diff.view->entities.at("Pete").cluster_id.empty());  // a singleton is no cluster
  CHECK(r.diff.view->entities.at("Kaiden").is_npc);
  // Kaiden and Pete have agents: Kaiden's block lists the four others.
  const auto* ks = sync_of(r, "Kaiden");
  REQUIRE(ks != nullptr);
  CHECK(member_names_of(*ks) == S{"Diamond", "Goldie", "Noobster", "Oscar"});
  CHECK(members_block_of(*ks).members[1].appearance == "A fox");
}

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

TEST_CASE("game state: players unseen for the TTL leave the player cache") {
  manual_clock clock;
  world_options o;
  o.player_cache_ttl = 60s;
  game_state g("g1", o, registry());
  auto diamond = at("Diamond", 0, 0);
  diamond.id = "2154372";
  diamond.appearance = "blue hoodie";
  auto r = g.apply(scene(1, {diamond, at("Pete", 3, 0)}), clock.now());
  CHECK(g.player_cache_size() == 1);
  clock.advance(30s);
  r = g.apply(scene(2, {at("Pete", 3, 0)}), clock.now());
  CHECK(r.stats.players_evicted == 0);
  CHECK(g.player_cache_size() == 1);
  // Back within the TTL: the appearance is remembered even without the field.
  clock.advance(10s);
  auto back = at("Diamond", 0, 0);
  back.id = "2154372";
  r = g.apply(scene(3, {back, at("Pete", 3, 0)}), clock.now());
  const auto* ps = sync_of(r, "Pete");
  REQUIRE(ps != nullptr);
  CHECK(members_block_of(*ps).members[0].appearance == "blue hoodie");
  clock.advance(61s);
  r = g.apply(scene(4, {at("Pete", 3, 0)}), clock.now());
  CHECK(r.stats.players_evicted == 1);
  CHECK(g.player_cache_size() == 0);
}

// Each entity keeps its player cache entry between applies; an entry the cache let go must not
// be read through it. Mia is a player, then for longer than the TTL an NPC (her player entry is
// evicted meanwhile), then a player again: a fresh entry, not the evicted one's appearance.
TEST_CASE("game state: a player's cache entry, kept per entity, is looked up again once the cache evicted it") {
  manual_clock clock;
  world_options o;
  o.player_cache_ttl = 60s;
  game_state g("g1", o, registry());
  auto mia = at("Mia", 0, 0);
  mia.appearance = "red cap";
  g.apply(scene(1, {mia, at("Pete", 3, 0)}), clock.now());
  CHECK(g.player_cache_size() == 1);
  auto mia_npc = at("Mia", 100, 0);
  mia_npc.kind = "npc";
  clock.advance(61s);
  auto r = g.apply(scene(2, {mia_npc, at("Pete", 3, 0)}), clock.now());
  CHECK(r.stats.players_evicted == 1);
  CHECK(g.player_cache_size() == 0);
  clock.advance(1s);
  r = g.apply(scene(3, {at("Mia", 0, 0), at("Pete", 3, 0)}), clock.now());
  CHECK(g.player_cache_size() == 1);
  const auto* ps = sync_of(r, "Pete");
  REQUIRE(ps != nullptr);
  const auto block = members_block_of(*ps);
  REQUIRE(block.members.size() == 1);
  CHECK(block.members[0].name == "Mia");
  CHECK(block.members[0].appearance.empty());  // not "red cap": that entry is gone
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
TEST_CASE("game state: views are recycled only once no reader holds them") {
  manual_clock clock;
  game_state g("g1", world_options{}, registry());
  auto walk = [](std::uint64_t k) {
    std::vector<snapshot_entity> es;
    for (int i = 0; i < 8; ++i) es.push_back(at("E" + std::to_string(i), walker_x(i, static_cast<double>(k)), 0));
    if (k % 4 == 0) es.push_back(at("Pete", 2, 0));  // comes and goes: entries and clusters change
    return scene(k, es);
  };
  std::vector<std::pair<std::shared_ptr<const world_view>, world_view>> held;  // view, its copy
  std::size_t recycled = 0;
  for (std::uint64_t k = 1; k <= 40; ++k) {
    clock.advance(1s);
    auto r = g.apply(walk(k), clock.now());
    recycled += r.stats.views_recycled;
    REQUIRE(r.diff.view);
    CHECK(r.diff.view->entities.at("E3").position->x == walker_x(3, static_cast<double>(k)));
    CHECK(r.diff.view->entities.count("Pete") == (k % 4 == 0 ? 1U : 0U));
    if (k % 3 == 0) held.emplace_back(r.diff.view, *r.diff.view);
  }
  CHECK(recycled > 10);
  for (const auto& [v, copy] : held) {
    CHECK(v->snapshots_applied == copy.snapshots_applied);
    REQUIRE(v->entities.size() == copy.entities.size());
    for (const auto& [name, e] : copy.entities) {
      REQUIRE(v->entities.count(name) == 1);
      const auto& now = v->entities.at(name);
      CHECK(now.position->x == e.position->x);
      CHECK(now.cluster_id == e.cluster_id);
    }
    REQUIRE(v->clusters.size() == copy.clusters.size());
    for (const auto& [id, c] : copy.clusters) CHECK(v->clusters.at(id).members == c.members);
  }
}

// Readers on another thread take the published view, read it whole and drop it while
// applies go on (the snapshot worker's pattern): every view they see is the world of exactly
// one snapshot, never one being refilled (run under TSan by the CI).
TEST_CASE("game state: a view read on another thread is never refilled under the reader") {
  manual_clock clock;
  game_state g("g1", world_options{}, registry());
  std::mutex mu;
  std::shared_ptr<const world_view> published;
  std::atomic<bool> done{false};
  std::atomic<std::size_t> reads{0}, torn{0};
  auto reader = [&] {
    while (!done.load()) {
      std::shared_ptr<const world_view> v;
      {
        std::lock_guard lk(mu);
        v = published;
      }
      if (!v) continue;
      const double k = static_cast<double>(v->snapshots_applied);
      for (int i = 0; i < 8; ++i) {
        const auto& e = v->entities.at("E" + std::to_string(i));
        if (!e.position || e.position->x != walker_x(i, k)) ++torn;
      }
      ++reads;
    }
  };
  std::thread t1(reader), t2(reader);
  std::size_t recycled = 0;
  for (std::uint64_t k = 1; k <= 300; ++k) {
    std::vector<snapshot_entity> es;
    for (int i = 0; i < 8; ++i) es.push_back(at("E" + std::to_string(i), walker_x(i, static_cast<double>(k)), 0));
    clock.advance(1s);
    auto r = g.apply(scene(k, es), clock.now());
    recycled += r.stats.views_recycled;
    {
      std::lock_guard lk(mu);
      published = r.diff.view;
    }
    if (k % 30 == 0) {  // the readers keep up now and then (they may start late on a busy machine)
      const auto before = reads.load();
      REQUIRE(orch::testing::eventually([&] { return reads.load() > before + 2; }));
    }
  }
  done = true;
  t1.join();
  t2.join();
  CHECK(torn.load() == 0);
  CHECK(recycled > 0);
}

TEST_CASE("game state: games sharing a clusterer pool cluster as games with their own do") {
  // The pool's clusterer goes from a big game to a small one and back: nothing of one run may
  // reach the next.
  auto pool = std::make_shared<clusterer_pool>();
  world_options opts;
  game_state big("big", opts, registry(), pool), small("small", opts, registry(), pool);
  game_state big_alone("big", opts, registry()), small_alone("small", opts, registry());
  auto walkers = [](int n, double k) {
    std::vector<snapshot_entity> es;
    for (int i = 0; i < n; ++i) es.push_back(at("W" + std::to_string(i), walker_x(i, k), (i % 3) * 1.5));
    return es;
  };
  auto clusters_of = [](const apply_result& r) {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& [id, c] : r.diff.view->clusters) out[id] = c.members;
    return out;
  };
  const orch::policies::time_point now{};
  for (std::uint64_t k = 1; k <= 40; ++k) {
    CAPTURE(k);
    const auto sb = scene(k, walkers(60, static_cast<double>(k)));
    const auto ss = scene(k, walkers(7, static_cast<double>(k) * 1.7));
    const auto rb = big.apply(sb, now), rs = small.apply(ss, now);
    const auto rb_alone = big_alone.apply(sb, now), rs_alone = small_alone.apply(ss, now);
    REQUIRE(rb.diff.view);
    REQUIRE(rs.diff.view);
    CHECK(clusters_of(rb) == clusters_of(rb_alone));
    CHECK(clusters_of(rs) == clusters_of(rs_alone));
    CHECK(rb.diff.changes.size() == rb_alone.diff.changes.size());
    CHECK(rs.diff.changes.size() == rs_alone.diff.changes.size());
  }
  CHECK(pool->idle() == 1);  // one apply at a time here: one clusterer made for both games
}

TEST_CASE("game state: a view's agent ids are the registry's strings, and the view keeps the registry") {
  auto reg = registry();
  std::shared_ptr<const world_view> v;
  {
    game_state g("g1", world_options{}, reg);
    v = g.apply(scene(1, {at("Pete", 0, 0), at("Ann", 2, 0)}), {}).diff.view;
  }
  REQUIRE(v);
  const auto* pete = reg->find_npc("Pete");
  CHECK(v->registry == reg);
  CHECK(v->entities.at("Pete").agent_id.data() == pete->agent_id.data());  // a view, not a copy
  CHECK(v->entities.at("Ann").agent_id.empty());
  CHECK(v->entities.at("Pete").action == "Idle");
  reg.reset();  // the game and the test let go: the view still reads its agent ids
  CHECK(v->entities.at("Pete").agent_id == "agent-pete");
}

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
