// Tests workers/game_state.cpp: the snapshot worker's core (apply -> diff, events, views, the
// player cache), driven by a manual clock. Sync decisions: game_state_syncs_test.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <rapidjson/document.h>

#include "tests/eventually.hpp"
#include "tests/workers/game_state_support.hpp"
#include "workers/game_state.hpp"

using namespace orch::workers;
using namespace orch::workers::game_state_support;
using namespace std::chrono_literals;
using orch::policies::manual_clock;
using orch::policies::update_reason;
using S = std::vector<std::string>;

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
