#pragma once
// The simulated game world of one game server: NPCs and players walk between waypoints,
// linger there (so groups form), then leave for another (so groups split and merge). It
// renders snapshots in the original game's format with positions (DESIGN 3.1) and makes up
// chat turns (DESIGN 3.2). Pure code: time comes in as `dt`/`epoch_s`, randomness from the
// caller's generator, so a seed replays a run exactly.
//
// Thread-safety: none; each game is stepped by one thread (its shard).
// Failure: never throws except std::bad_alloc.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "common/union_find.hpp"
#include "tools/npc-flood/scenario.hpp"

namespace orch::tools {

using rng_t = std::mt19937_64;

struct sim_entity {
  std::string name;
  std::string id;
  bool npc = false;
  std::array<double, 3> pos{};
  std::array<double, 3> goal{};  // a spot near the target waypoint
  std::size_t waypoint = 0;
  bool moving = false;
  double dwell_left_s = 0;  // while standing
  double speed = 12;        // studs/s while moving
  double health = 100;
};

// The game's own clusters as the original Lua code computes them: naive all-pairs single
// link within `radius` (3-D), singletons included. Member order follows input order.
struct naive_cluster {
  std::vector<std::size_t> members;  // indices into the entity list
  int npcs = 0;
  int players = 0;
};

inline std::vector<naive_cluster> naive_clusters(const std::vector<sim_entity>& es, double radius) {
  common::union_find sets(static_cast<std::uint32_t>(es.size()));
  auto find = [&](std::size_t i) -> std::size_t { return sets.find(static_cast<std::uint32_t>(i)); };
  const double r2 = radius * radius;
  for (std::size_t i = 0; i < es.size(); ++i) {
    for (std::size_t j = i + 1; j < es.size(); ++j) {
      double d2 = 0;
      for (int k = 0; k < 3; ++k) d2 += (es[i].pos[k] - es[j].pos[k]) * (es[i].pos[k] - es[j].pos[k]);
      if (d2 <= r2) sets.unite(static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(j));
    }
  }
  std::vector<naive_cluster> out;
  std::vector<std::size_t> slot(es.size(), SIZE_MAX);
  for (std::size_t i = 0; i < es.size(); ++i) {
    const std::size_t root = find(i);
    if (slot[root] == SIZE_MAX) {
      slot[root] = out.size();
      out.emplace_back();
    }
    auto& c = out[slot[root]];
    c.members.push_back(i);
    (es[i].npc ? c.npcs : c.players) += 1;
  }
  return out;
}

// A chat turn made up by the world: the JSON body and what it asks for.
struct chat_request {
  std::string body;
  std::string speaker;
  std::string target;  // NPC display name addressed, empty when none
  std::string text;
  enum class kind { addressed, unaddressed, system } k = kind::unaddressed;
};

// Stall mode (scenario keys stalls, swap_period_s): people stand at fixed stalls and swap.
struct stall_layout {
  int stalls = 0;            // 0 = walk between waypoints
  double swap_period_s = 0;  // 0 = never swap
};

class game_world {
 public:
  static constexpr double cluster_radius = 10.0;  // the daemon's default, for the game's clusters
  static constexpr double stall_radius = 2.5;     // people at a stall stand this close to it

  // `layout.stalls` must not exceed the registry's waypoints (the runner checks).
  game_world(std::string game_id, const flood_registry& reg, int players, int game_index, rng_t& rng,
             stall_layout layout = {})
      : game_id_(std::move(game_id)), waypoints_(reg.waypoints), layout_(layout) {
    if (waypoints_.empty()) waypoints_.push_back({"Town Square", {0.0, 3.0, 0.0}});  // somewhere to stand
    layout_.stalls = std::min(layout_.stalls, static_cast<int>(waypoints_.size()));
    swap_left_s_ = layout_.swap_period_s;
    for (const auto& n : reg.npcs) add(n.name, n.id, true, rng);
    for (int p = 1; p <= players; ++p) {
      add("Player-" + std::to_string(game_index) + "-" + std::to_string(p),
          std::to_string(1000000 + game_index * 10000 + p), false, rng);
    }
  }

  bool stall_mode() const { return layout_.stalls > 0; }
  std::uint64_t swaps() const { return swaps_; }

  const std::string& game_id() const { return game_id_; }
  const std::vector<sim_entity>& entities() const { return entities_; }
  std::uint64_t last_seq() const { return seq_; }
  // Snapshots continue from `base` + 1: a later run against the same daemon must send newer
  // seqs than an earlier one, or the daemon drops its snapshots as stale (DESIGN 3.1).
  void set_seq_base(std::uint64_t base) { seq_ = base; }

  // Advances the walk (or, in stall mode, the swaps) by dt seconds.
  void step(double dt, rng_t& rng) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    if (stall_mode() && layout_.swap_period_s > 0) {
      for (swap_left_s_ -= dt; swap_left_s_ <= 0; swap_left_s_ += layout_.swap_period_s) {
        swap_two(false, rng);
        swap_two(true, rng);
      }
    }
    for (auto& e : entities_) {
      if (stall_mode()) {
        // Standing at a stall: only health changes (below).
      } else if (!e.moving) {
        e.dwell_left_s -= dt;
        if (e.dwell_left_s <= 0) depart(e, rng);
      } else {
        double d2 = 0;
        for (int k = 0; k < 3; ++k) d2 += (e.goal[k] - e.pos[k]) * (e.goal[k] - e.pos[k]);
        const double d = std::sqrt(d2);
        const double stride = e.speed * dt;
        if (d <= stride) {
          e.pos = e.goal;
          e.moving = false;
          e.dwell_left_s = 5 + 35 * u(rng);
        } else {
          for (int k = 0; k < 3; ++k) e.pos[k] += (e.goal[k] - e.pos[k]) * stride / d;
        }
      }
      // Now and then someone gets hurt, and heals slowly.
      if (u(rng) < 0.002 * dt)
        e.health = std::max(0.0, e.health - 20 - 60 * u(rng));
      else if (e.health < 100)
        e.health = std::min(100.0, e.health + 2 * dt);
    }
  }

  // The next snapshot body (seq increases by one per call).
  std::string snapshot_body(std::int64_t epoch_s) {
    ++seq_;
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.SetMaxDecimalPlaces(3);
    w.StartObject();
    w.Key("gameId");
    w.String(game_id_);
    w.Key("seq");
    w.Uint64(seq_);
    w.Key("timestamp");
    w.Int64(epoch_s);
    w.Key("events");
    w.StartArray();
    w.EndArray();
    w.Key("clusters");
    w.StartArray();
    for (const auto& c : naive_clusters(entities_, cluster_radius)) {
      w.StartObject();
      w.Key("members");
      w.StartArray();
      for (auto i : c.members) w.String(entities_[i].name);
      w.EndArray();
      w.Key("npcs");
      w.Int(c.npcs);
      w.Key("players");
      w.Int(c.players);
      w.EndObject();
    }
    w.EndArray();
    w.Key("humanContext");
    w.StartObject();
    for (const auto& e : entities_) {
      w.Key(e.name.c_str(), static_cast<rapidjson::SizeType>(e.name.size()));
      w.StartObject();
      w.Key("kind");
      w.String(e.npc ? "npc" : "player");
      w.Key("id");
      w.String(e.id);
      w.Key("position");
      w.StartObject();
      w.Key("x");
      w.Double(e.pos[0]);
      w.Key("y");
      w.Double(e.pos[1]);
      w.Key("z");
      w.Double(e.pos[2]);
      w.EndObject();
      w.Key("health");
      w.StartObject();
      w.Key("current");
      w.Double(std::round(e.health));
      w.Key("max");
      w.Int(100);
      w.Key("state");
      w.String(e.health <= 0 ? "Dead" : "Running");
      w.Key("isMoving");
      w.Bool(e.moving);
      w.Key("velocity");
      w.Double(e.moving ? e.speed : 0.0);
      w.EndObject();
      w.Key("location");
      w.String(location_of(e.pos));
      w.Key("lastSeen");
      w.Int64(epoch_s);
      w.EndObject();
    }
    w.EndObject();
    w.EndObject();
    return {sb.GetString(), sb.GetSize()};
  }

  // Makes up one chat turn from a random player (mix shares as in the scenario). An addressed
  // turn names an NPC of the player's own group when there is one (so someone listens), else
  // any NPC; half name it in `target`, half only in the text.
  chat_request chat_turn(const chat_mix& mix, rng_t& rng) const {
    chat_request r;
    std::vector<std::size_t> players;
    std::vector<std::size_t> npcs;
    for (std::size_t i = 0; i < entities_.size(); ++i) (entities_[i].npc ? npcs : players).push_back(i);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    auto pick = [&](const std::vector<std::size_t>& v) {
      return v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng)];
    };
    const sim_entity* speaker = players.empty() ? nullptr : &entities_[pick(players)];
    const double roll = u(rng);
    std::string text;
    bool target_field = false;
    if (roll < mix.system) {
      r.k = chat_request::kind::system;
      text = "[SYSTEM] " + (speaker ? speaker->name : std::string("Someone")) + " has entered your range near " +
             (speaker ? location_of(speaker->pos) : "town");
    } else if (roll < mix.system + mix.addressed && !npcs.empty()) {
      r.k = chat_request::kind::addressed;
      std::vector<std::size_t> near;
      for (auto i : npcs) {
        if (speaker && distance(entities_[i].pos, speaker->pos) <= cluster_radius) near.push_back(i);
      }
      r.target = entities_[pick(near.empty() ? npcs : near)].name;
      static constexpr std::array<const char*, 4> asks = {"how are you today?", "what do you sell?",
                                                          "have you seen anything strange?", "can you help me?"};
      const char* ask = asks[std::uniform_int_distribution<std::size_t>(0, asks.size() - 1)(rng)];
      target_field = u(rng) < 0.5;
      text = target_field ? std::string("Hey, ") + ask : r.target + ", " + ask;
    } else {
      r.k = chat_request::kind::unaddressed;
      static constexpr std::array<const char*, 4> lines = {"Anyone here?", "What a nice day.", "Where is the market?",
                                                           "lol"};
      text = lines[std::uniform_int_distribution<std::size_t>(0, lines.size() - 1)(rng)];
    }
    r.speaker = speaker ? speaker->name : std::string("Someone");
    r.text = text;
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("gameId");
    w.String(game_id_);
    w.Key("speaker");
    w.StartObject();
    w.Key("name");
    w.String(r.speaker);
    if (speaker) {
      w.Key("id");
      w.String(speaker->id);
    }
    w.Key("kind");
    w.String("player");
    w.EndObject();
    w.Key("text");
    w.String(text);
    if (target_field) {
      w.Key("target");
      w.String(r.target);
    }
    w.EndObject();
    r.body.assign(sb.GetString(), sb.GetSize());
    return r;
  }

  // The next NPC in round robin, addressed by name (in the text and in `target`) by a player
  // of its group (any player when its group has none).
  chat_request addressed_turn(rng_t& rng) {
    chat_request r;
    r.k = chat_request::kind::addressed;
    std::vector<std::size_t> npcs, near, players;
    for (std::size_t i = 0; i < entities_.size(); ++i) (entities_[i].npc ? npcs : players).push_back(i);
    if (npcs.empty() || players.empty()) return chat_turn({0, 1, 0}, rng);
    const sim_entity& npc = entities_[npcs[next_addressed_++ % npcs.size()]];
    for (auto i : players) {
      if (distance(entities_[i].pos, npc.pos) <= cluster_radius) near.push_back(i);
    }
    const auto& pool = near.empty() ? players : near;
    const sim_entity& speaker = entities_[pool[std::uniform_int_distribution<std::size_t>(0, pool.size() - 1)(rng)]];
    static constexpr std::array<const char*, 6> asks = {
        "how are you today?", "what do you sell?",       "have you seen anything strange?",
        "can you help me?",   "what's new around here?", "who else is at this stall?"};
    r.speaker = speaker.name;
    r.target = npc.name;
    r.text = "Hey " + npc.name + ", " + asks[std::uniform_int_distribution<std::size_t>(0, asks.size() - 1)(rng)];
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    w.StartObject();
    w.Key("gameId");
    w.String(game_id_);
    w.Key("speaker");
    w.StartObject();
    w.Key("name");
    w.String(r.speaker);
    w.Key("id");
    w.String(speaker.id);
    w.Key("kind");
    w.String("player");
    w.EndObject();
    w.Key("text");
    w.String(r.text);
    w.Key("target");
    w.String(r.target);
    w.EndObject();
    r.body.assign(sb.GetString(), sb.GetSize());
    return r;
  }

  std::string location_of(const std::array<double, 3>& p) const {
    const waypoint* best = nullptr;
    double best_d = 1e300;
    for (const auto& w : waypoints_) {
      const double d = distance(w.pos, p);
      if (d < best_d) {
        best_d = d;
        best = &w;
      }
    }
    return best && best_d <= 25.0 ? best->name : std::string("Unknown Area");
  }

  static double distance(const std::array<double, 3>& a, const std::array<double, 3>& b) {
    double d2 = 0;
    for (int k = 0; k < 3; ++k) d2 += (a[k] - b[k]) * (a[k] - b[k]);
    return std::sqrt(d2);
  }

 private:
  void add(std::string name, std::string id, bool npc, rng_t& rng) {
    sim_entity e;
    e.name = std::move(name);
    e.id = std::move(id);
    e.npc = npc;
    e.speed = npc ? 8.0 : 16.0;  // Roblox walk speed 16 for players
    std::uniform_real_distribution<double> u(0.0, 1.0);
    if (stall_mode()) {
      // Dealt round robin over the stalls, NPCs and players each, so every stall has both.
      e.waypoint = static_cast<std::size_t>(kind_count(npc) % layout_.stalls);
      e.goal = near_waypoint(e.waypoint, rng, stall_radius);
    } else {
      e.waypoint = std::uniform_int_distribution<std::size_t>(0, waypoints_.size() - 1)(rng);
      e.goal = near_waypoint(e.waypoint, rng);
    }
    e.pos = e.goal;
    e.dwell_left_s = 40 * u(rng);
    entities_.push_back(std::move(e));
  }

  int kind_count(bool npc) const {
    return static_cast<int>(
        std::count_if(entities_.begin(), entities_.end(), [npc](const sim_entity& x) { return x.npc == npc; }));
  }

  // Two people of one kind at different stalls trade places (nothing when all stand at one).
  void swap_two(bool npcs, rng_t& rng) {
    std::vector<std::size_t> pool;
    for (std::size_t i = 0; i < entities_.size(); ++i) {
      if (entities_[i].npc == npcs) pool.push_back(i);
    }
    if (pool.size() < 2) return;
    std::uniform_int_distribution<std::size_t> pick(0, pool.size() - 1);
    auto& a = entities_[pool[pick(rng)]];
    std::vector<std::size_t> others;
    for (auto i : pool) {
      if (entities_[i].waypoint != a.waypoint) others.push_back(i);
    }
    if (others.empty()) return;
    auto& b = entities_[others[std::uniform_int_distribution<std::size_t>(0, others.size() - 1)(rng)]];
    std::swap(a.waypoint, b.waypoint);
    a.pos = a.goal = near_waypoint(a.waypoint, rng, stall_radius);
    b.pos = b.goal = near_waypoint(b.waypoint, rng, stall_radius);
    ++swaps_;
  }

  void depart(sim_entity& e, rng_t& rng) {
    if (waypoints_.size() > 1) {
      std::size_t next = std::uniform_int_distribution<std::size_t>(0, waypoints_.size() - 2)(rng);
      if (next >= e.waypoint) ++next;
      e.waypoint = next;
    }
    e.goal = near_waypoint(e.waypoint, rng);
    e.moving = true;
  }

  // A random spot within `radius` studs of a waypoint: people standing there form one group.
  std::array<double, 3> near_waypoint(std::size_t w, rng_t& rng, double radius = 6.0) const {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const double a = 6.283185307179586 * u(rng);
    const double r = radius * std::sqrt(u(rng));
    auto p = waypoints_[w].pos;
    p[0] += r * std::cos(a);
    p[2] += r * std::sin(a);
    return p;
  }

  std::string game_id_;
  std::vector<waypoint> waypoints_;
  std::vector<sim_entity> entities_;
  std::uint64_t seq_ = 0;
  stall_layout layout_;
  double swap_left_s_ = 0;
  std::uint64_t swaps_ = 0;
  std::size_t next_addressed_ = 0;
};

}  // namespace orch::tools
