// workers/game_state (entities updated in place, scratch reused, views reused when unchanged)
// against the pre-rewrite game_state kept in tests/workers/game_state_reference.*: random
// sequences of snapshots give the same clusters, events, views, syncs and stats.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <random>
#include <set>

#include "tests/workers/game_state_reference.hpp"
#include "workers/game_state.hpp"

using namespace orch::workers;
using namespace std::chrono_literals;
using orch::policies::manual_clock;

namespace {

std::shared_ptr<const world_registry> registry() {
  return std::make_shared<world_registry>(
      std::vector<npc_info>{{"npc-pete", "Pete", "A merchant", "agent-pete"},
                            {"npc-kaiden", "Kaiden", "A guard", "agent-kaiden"},
                            {"npc-oscar", "Oscar", "A barista", "agent-oscar"},
                            {"npc-goldie", "Goldie", "A fox", ""}},
      std::vector<location_info>{{"cafe", "Cafe", {12.0, 3.0, -40.5}, "A small cafe"},
                                 {"plaza", "Town Plaza", {10.0, 3.0, -10.0}, "The square"},
                                 {"park", "Park", {-20.0, 3.0, 5.0}, "Trees"}});
}

// How a scene churns. The defaults: humanContext shuffled every time (the positional name
// hint of the interned table misses), no renames. `steady`: the same order most of the time
// (the hint hits), shuffled now and then; `rename_one_in`: an entity that is not a registry NPC
// takes another name (from a pool of `pool` names, two entities may pick the same one).
struct churn {
  bool steady = false;
  int absent_one_in = 6;
  int rename_one_in = 0;  // 0: never
  int pool = 30;
};

class scene_maker {
 public:
  explicit scene_maker(std::uint32_t seed, churn c = {}) : rng_(seed), churn_(c) {
    for (auto& p : pos_) p = {uniform(-30, 30), 3.0, uniform(-30, 30)};
    static const char* names[] = {"Pete", "Kaiden", "Oscar", "Goldie", "Diamond",
                                  "Ruby", "Zed",    "Amy",   "Bob",    "npc-goldie"};
    for (std::size_t i = 0; i < names_.size(); ++i) names_[i] = names[i];
  }

  snapshot next() {
    snapshot s;
    s.game_id = "g";
    seq_ += one_in(15) ? 0 : 1;  // sometimes stale
    if (!one_in(10)) s.seq = seq_;
    s.timestamp = 1737874900 + static_cast<std::int64_t>(seq_);
    for (std::size_t i = 0; i < pos_.size(); ++i) {
      // Renamed: never a registry NPC (two entities of one agent, see below), so from index 4.
      if (churn_.rename_one_in > 0 && i >= 4 && i != 9 && one_in(churn_.rename_one_in))
        names_[i] = "W" + std::to_string(static_cast<int>(uniform(0, churn_.pool - 0.01)));
      // Walk: mostly small steps, sometimes a jump, sometimes a step under the threshold.
      const double step = one_in(5) ? 12.0 : one_in(4) ? 0.05 : 3.0;
      pos_[i].x += uniform(-step, step);
      pos_[i].z += uniform(-step, step);
      if (one_in(churn_.absent_one_in)) continue;  // absent from this snapshot
      snapshot_entity e;
      e.name = names_[i];
      if (!one_in(8)) e.position = pos_[i];
      if (!one_in(3)) {
        entity_health h;
        h.current = uniform(-5, 100);
        if (!one_in(4)) h.max = 100.0;
        if (one_in(5)) h.state = one_in(2) ? "Dead" : "Running";
        if (one_in(2)) h.is_moving = one_in(2);
        if (one_in(3)) h.velocity = uniform(0, 2);
        e.health = h;
      }
      if (one_in(5)) e.location = "Somewhere";
      if (one_in(4)) e.kind = one_in(2) ? "npc" : "player";
      // Classified by id too; never as an NPC with an agent that is already in the scene: two
      // entities of one agent make decide_syncs depend on hash-map order (in both versions).
      if (one_in(4)) e.id = one_in(2) ? std::string("npc-goldie") : std::to_string(1000 + i);
      if (one_in(4)) e.appearance = "look " + std::to_string(i % 3);
      if (one_in(6)) e.last_seen = 1737874000.0 + static_cast<double>(i);
      s.entities.push_back(e);
      if (one_in(25)) s.entities.push_back(e);  // a name listed twice
    }
    if (!churn_.steady || one_in(8)) std::shuffle(s.entities.begin(), s.entities.end(), rng_);
    for (int k = static_cast<int>(uniform(0, 2.99)); k > 0; --k) {
      game_cluster gc;
      for (const char* n : {"Pete", "Ruby", "Ghost", "Zed", "Amy"})
        if (one_in(2)) gc.members.emplace_back(n);
      s.clusters.push_back(gc);
    }
    return s;
  }

 private:
  bool one_in(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_) == 0; }
  double uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng_); }

  std::mt19937 rng_;
  churn churn_;
  std::array<std::string, 10> names_;
  std::array<vec3, 10> pos_;
  std::uint64_t seq_ = 0;
};

void check_same_view(const world_view& a, const world_view& b) {
  CHECK(a.game_id == b.game_id);
  REQUIRE(a.entities.size() == b.entities.size());
  for (const auto& [name, x] : a.entities) {
    REQUIRE(b.entities.count(name) == 1);
    const auto& y = b.entities.at(name);
    CHECK(x.name == y.name);
    CHECK(x.id == y.id);
    CHECK(x.is_npc == y.is_npc);
    CHECK(x.agent_id == y.agent_id);
    REQUIRE(x.position.has_value() == y.position.has_value());
    if (x.position) {
      CHECK(x.position->x == y.position->x);
      CHECK(x.position->z == y.position->z);
    }
    CHECK(x.location == y.location);
    CHECK(x.action == y.action);
    CHECK(x.cluster_id == y.cluster_id);
  }
  REQUIRE(a.clusters.size() == b.clusters.size());
  for (const auto& [id, c] : a.clusters) {
    REQUIRE(b.clusters.count(id) == 1);
    CHECK(c.members == b.clusters.at(id).members);
  }
}

void check_same(const apply_result& a, const reference::apply_result& b) {
  CHECK(a.stale == b.stale);
  CHECK(a.clusters == b.clusters);
  REQUIRE(a.diff.changes.size() == b.diff.changes.size());
  for (std::size_t i = 0; i < a.diff.changes.size(); ++i) {
    CHECK(a.diff.changes[i].cluster_id == b.diff.changes[i].cluster_id);
    CHECK(a.diff.changes[i].members == b.diff.changes[i].members);
    CHECK(a.diff.changes[i].joined == b.diff.changes[i].joined);
    CHECK(a.diff.changes[i].left == b.diff.changes[i].left);
  }
  REQUIRE(a.events.size() == b.events.size());
  for (std::size_t i = 0; i < a.events.size(); ++i) {
    std::string rendered;
    orch::queues::render_event(7, a.events[i], rendered);
    CHECK(rendered == "{\"seq\":7," + b.events[i] + "}");  // byte for byte as before
  }
  REQUIRE((a.diff.view == nullptr) == (b.diff.view == nullptr));
  if (a.diff.view) check_same_view(*a.diff.view, *b.diff.view);
  REQUIRE(a.syncs.size() == b.syncs.size());
  for (std::size_t i = 0; i < a.syncs.size(); ++i) {
    const auto& x = *a.syncs[i];
    const auto& y = *b.syncs[i];
    CHECK(x.npc_name == y.npc_name);
    CHECK(x.agent_id == y.agent_id);
    CHECK(member_names_of(x) == y.members);
    // The slim request's block (shared member list, updates, epoch seconds) formatted as the
    // memory-sync worker formats it is the block the reference built whole.
    const auto xb = members_block_of(x);
    CHECK(group_block_hash(xb) == group_block_hash(y.members_block));
    REQUIRE(xb.members.size() == y.members_block.members.size());
    for (std::size_t k = 0; k < xb.members.size(); ++k) {
      CHECK(xb.members[k].name == y.members_block.members[k].name);
      CHECK(xb.members[k].appearance == y.members_block.members[k].appearance);
      CHECK(xb.members[k].last_seen == y.members_block.members[k].last_seen);
    }
    CHECK(xb.updates == y.members_block.updates);
    CHECK(xb.last_updated == y.members_block.last_updated);
    CHECK(x.status == y.status);
    CHECK(x.force == y.force);
    CHECK(x.reason == y.reason);
  }
  CHECK(a.stats.joins == b.stats.joins);
  CHECK(a.stats.leaves == b.stats.leaves);
  CHECK(a.stats.cache_hits == b.stats.cache_hits);
  CHECK(a.stats.skipped_noops == b.stats.skipped_noops);
  CHECK(a.stats.naive_writes == b.stats.naive_writes);
  CHECK(a.stats.players_evicted == b.stats.players_evicted);
  CHECK(a.stats.updates == b.stats.updates);
}

// One step of both implementations on the same snapshot at the same time (a failed sync of
// Pete now and then), checked equal; returns the interned game_state's result.
apply_result apply_both(game_state& now_state, reference::game_state& ref, const snapshot& s, manual_clock& clock,
                        int step) {
  clock.advance(std::chrono::seconds(1 + step % 7));
  if (step % 13 == 0 && step > 0) now_state.mark_sync_failed("agent-pete"), ref.mark_sync_failed("agent-pete");
  auto a = now_state.apply(s, clock.now());
  const auto b = ref.apply(s, clock.now());
  check_same(a, b);
  CHECK(now_state.cluster_count() == ref.cluster_count());
  CHECK(now_state.player_cache_size() == ref.player_cache_size());
  return a;
}

}  // namespace

TEST_CASE("game state: the in-place game_state matches the reference on random snapshot sequences") {
  world_options opts;
  opts.player_cache_ttl = 20s;
  std::size_t changes = 0, syncs = 0;
  for (std::uint32_t seed = 1; seed <= 40; ++seed) {
    manual_clock clock;
    game_state now_state("g", opts, registry());
    reference::game_state ref("g", opts, registry());
    scene_maker scenes(seed);
    for (int step = 0; step < 60; ++step) {
      INFO("seed " << seed << " step " << step);
      const snapshot s = scenes.next();
      const auto a = apply_both(now_state, ref, s, clock, step);
      changes += a.diff.changes.size();
      syncs += a.syncs.size();
    }
  }
  // The sequences must exercise what they compare.
  CHECK(changes > 200);
  CHECK(syncs > 100);
}

// Clustering is skipped when nothing it reads changed (nobody moved past the threshold, came or
// left, and the game's clusters are the same): the kept clusters must be the ones clustering
// would find. Each random snapshot is sent again (a newer seq), then again with only its game
// clusters changed, then with one entity stepping under and over the movement threshold.
TEST_CASE("game state: clustering skipped for an unchanged layout matches the reference") {
  world_options opts;
  opts.player_cache_ttl = 20s;
  std::size_t skipped = 0, clustered = 0;
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    manual_clock clock;
    game_state now_state("g", opts, registry());
    reference::game_state ref("g", opts, registry());
    scene_maker scenes(seed * 31, churn{true, 6, 0, 30});
    std::uint64_t seq = 1000;
    int step = 0;
    for (int round = 0; round < 40; ++round) {
      INFO("seed " << seed << " round " << round);
      snapshot s = scenes.next();
      s.seq = ++seq;
      auto count = [&](const apply_result& a) { ++(a.stats.clustered ? clustered : skipped); };
      count(apply_both(now_state, ref, s, clock, step++));
      s.seq = ++seq;  // the same snapshot again
      count(apply_both(now_state, ref, s, clock, step++));
      s.seq = ++seq;  // only the game's clusters differ: a member dropped, or one more cluster
      if (!s.clusters.empty() && !s.clusters.back().members.empty())
        s.clusters.back().members.pop_back();
      else
        s.clusters.push_back(game_cluster{{"Zed", "Ghost"}, 0, 0});
      count(apply_both(now_state, ref, s, clock, step++));
      s.seq = ++seq;  // a step under the threshold (ignored), then one over it
      for (auto& e : s.entities)
        if (e.position) {
          e.position->x += opts.movement_threshold_studs / 4;
          break;
        }
      count(apply_both(now_state, ref, s, clock, step++));
      s.seq = ++seq;
      for (auto& e : s.entities)
        if (e.position) {
          e.position->x += opts.movement_threshold_studs * 3;
          break;
        }
      count(apply_both(now_state, ref, s, clock, step++));
    }
  }
  // Both paths ran, many times.
  CHECK(skipped > 500);
  CHECK(clustered > 1000);
}

// The interned table against the reference where interning changes things: entities leaving
// and coming back (slots reused through the free list), renames, a steady humanContext order
// (the positional hint hits) broken now and then (shuffles, absences: it misses), names listed
// twice, unknown NPCs, and long runs in which the table stays bounded.
TEST_CASE("game state: the interned entity table matches the reference under churn, renames and reorders") {
  world_options opts;
  opts.player_cache_ttl = 20s;
  std::size_t changes = 0, syncs = 0, entities = 0, hint_hits = 0, names_seen = 0;
  std::size_t widest_window = 0;
  const churn mixes[] = {{true, 20, 0, 30}, {true, 6, 15, 30}, {true, 10, 40, 12}, {false, 6, 10, 30}};
  for (std::uint32_t seed = 1; seed <= 12; ++seed) {
    const churn mix = mixes[seed % std::size(mixes)];
    manual_clock clock;
    game_state now_state("g", opts, registry());
    reference::game_state ref("g", opts, registry());
    scene_maker scenes(seed * 7919, mix);
    std::set<std::string> before;  // the entities present after the last applied snapshot
    std::set<std::string> all_names;
    std::size_t bound = 0;  // entities present at once during an apply: before + this snapshot's
    for (int step = 0; step < 400; ++step) {
      INFO("seed " << seed << " step " << step);
      const snapshot s = scenes.next();
      const auto a = apply_both(now_state, ref, s, clock, step);
      if (a.stale) continue;
      REQUIRE(a.diff.view);
      std::set<std::string> present;
      for (const auto& [name, v] : a.diff.view->entities) present.insert(name);
      std::set<std::string> window = before;
      window.insert(present.begin(), present.end());
      bound = std::max(bound, window.size());
      CHECK(now_state.entity_count() == present.size());
      CHECK(now_state.table_size() <= bound);                       // slots of entities that left are reused
      CHECK(now_state.table_capacity() == now_state.table_size());  // and the table keeps no room
      all_names.insert(present.begin(), present.end());
      before = std::move(present);
      changes += a.diff.changes.size();
      syncs += a.syncs.size();
      entities += s.entities.size();
      hint_hits += a.stats.name_hint_hits;
    }
    widest_window = std::max(widest_window, bound);
    names_seen += all_names.size();
  }
  // The sequences must exercise what they compare: both paths of the hint, names far more
  // than the table ever holds, clusters and syncs.
  CHECK(hint_hits > entities / 3);
  CHECK(hint_hits < entities * 9 / 10);
  CHECK(names_seen > 12 * widest_window);
  CHECK(changes > 500);
  CHECK(syncs > 300);
}

TEST_CASE("game state: a snapshot that changes nothing readers see publishes the same view") {
  manual_clock clock;
  game_state g("g", world_options{}, registry());
  snapshot s;
  s.game_id = "g";
  for (auto [n, x] : {std::pair<const char*, double>{"Pete", 0}, {"Diamond", 3}, {"Zed", 40}}) {
    snapshot_entity e;
    e.name = n;
    e.position = vec3{x, 3, 0};
    s.entities.push_back(e);
  }
  const auto v1 = g.apply(s, clock.now()).diff.view;
  const auto v2 = g.apply(s, clock.now()).diff.view;
  CHECK(v1 == v2);                 // repeating snapshot: nothing rebuilt
  s.entities[2].position->x = 41;  // Zed walks: readers see the new position
  const auto v3 = g.apply(s, clock.now()).diff.view;
  CHECK(v3 != v2);
  CHECK(v3->entities.at("Zed").position->x == 41);
  CHECK(v2->entities.at("Zed").position->x == 40);  // a published view never changes
}

// decide_syncs answers `none` without building the member list when nothing decide_group_update
// reads can have changed. Its edges, each step checked against the reference: a repeat and a
// walk that changes nothing read (quick hits), a walk that changes the action, a location
// change without a membership change, a failed sync, stale and forced rewrites while nothing
// moves, a membership change, a stale seq in between, an NPC gone and back.
TEST_CASE("game state: the quick cache hit of decide_syncs matches the reference at its edges") {
  world_options opts;
  manual_clock clock;
  game_state g("g", opts, registry());
  reference::game_state ref("g", opts, registry());
  std::uint64_t seq = 0;
  auto entity = [](const char* name, double x, double z, bool moving) {
    snapshot_entity e;
    e.name = name;
    e.position = vec3{x, 3.0, z};
    entity_health h;
    h.current = 100.0;
    h.max = 100.0;
    h.is_moving = moving;
    e.health = h;
    return e;
  };
  // Pete and Kaiden together (a cluster), Oscar alone, the player Zed far away.
  struct scene {
    double pete_x = 12, pete_z = -40, zed_x = 60;
    bool moving = false;
    bool with_oscar = true;
  };
  auto snap = [&](const scene& sc) {
    snapshot s;
    s.game_id = "g";
    s.seq = ++seq;
    s.timestamp = 1737874900 + static_cast<std::int64_t>(seq);
    s.entities.push_back(entity("Pete", sc.pete_x, sc.pete_z, sc.moving));
    s.entities.push_back(entity("Kaiden", sc.pete_x + 2, sc.pete_z, sc.moving));
    if (sc.with_oscar) s.entities.push_back(entity("Oscar", -20, 5, false));
    s.entities.push_back(entity("Zed", sc.zed_x, 60, false));
    return s;
  };
  auto step = [&](const snapshot& s, std::chrono::seconds advance) {
    clock.advance(advance);
    auto a = g.apply(s, clock.now());
    check_same(a, ref.apply(s, clock.now()));
    return a;
  };
  auto updates = [](const apply_result& r, orch::policies::update_reason why) {
    return r.stats.updates[static_cast<std::size_t>(why)];
  };
  using orch::policies::update_reason;
  scene sc;
  auto r = step(snap(sc), 1s);
  CHECK(updates(r, update_reason::changed) == 3);
  CHECK(r.stats.quick_cache_hits == 0);
  r = step(snap(sc), 1s);  // a repeat
  CHECK(r.stats.cache_hits == 3);
  CHECK(r.stats.quick_cache_hits == 3);
  sc.moving = true;  // Pete and Kaiden walk: their action changes, nothing else
  sc.pete_x += 1;
  r = step(snap(sc), 1s);
  CHECK(updates(r, update_reason::changed) == 2);
  CHECK(r.stats.quick_cache_hits == 1);
  sc.pete_x += 1;  // walking on, same action, location and members
  r = step(snap(sc), 1s);
  CHECK(r.syncs.empty());
  CHECK(r.stats.quick_cache_hits == 3);
  sc.pete_x = 10;  // to the plaza together: the location changes, the members do not
  sc.pete_z = -10;
  r = step(snap(sc), 1s);
  CHECK(r.diff.changes.empty());
  CHECK(updates(r, update_reason::changed) == 2);
  CHECK(r.stats.quick_cache_hits == 1);
  REQUIRE(g.mark_sync_failed("agent-oscar"));
  ref.mark_sync_failed("agent-oscar");
  r = step(snap(sc), 1s);
  CHECK(updates(r, update_reason::retry) == 1);
  CHECK(r.stats.quick_cache_hits == 2);
  snapshot old = snap(sc);
  old.seq = 1;  // stale: no effect, the next apply still answers quickly
  CHECK(step(old, 1s).stale);
  r = step(snap(sc), 1s);
  CHECK(r.stats.quick_cache_hits == 3);
  r = step(snap(sc), 31s);  // nothing moves, but the blocks are stale
  CHECK(updates(r, update_reason::stale) == 3);
  CHECK(r.stats.quick_cache_hits == 0);
  r = step(snap(sc), 1s);
  CHECK(r.stats.quick_cache_hits == 3);
  for (int i = 0; i < 8; ++i) CHECK(updates(step(snap(sc), 29s), update_reason::forced) == 0);
  r = step(snap(sc), 29s);  // force_refresh (300 s) since Pete's and Kaiden's first write
  CHECK(updates(r, update_reason::forced) == 2);
  CHECK(updates(r, update_reason::stale) == 1);  // Oscar: forced later (his retry), stale now
  CHECK(r.stats.quick_cache_hits == 0);
  sc.zed_x = 12;  // Zed joins Pete and Kaiden: their members change, Oscar's do not
  sc.pete_x = 12;
  sc.pete_z = -40;
  snapshot joined = snap(sc);
  joined.entities.back().position = vec3{13, 3, -41};
  r = step(joined, 1s);
  CHECK(r.diff.changes.size() == 1);
  CHECK(updates(r, update_reason::changed) == 2);
  CHECK(r.stats.quick_cache_hits == 1);
  sc.with_oscar = false;  // Oscar leaves and comes back: his slot is decided anew
  step(snap(sc), 1s);
  sc.with_oscar = true;
  r = step(snap(sc), 1s);
  CHECK(r.stats.quick_cache_hits == 2);  // Pete and Kaiden; Oscar is decided anew
  r = step(snap(sc), 1s);
  CHECK(r.stats.quick_cache_hits == 3);
}
