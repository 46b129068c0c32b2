#pragma once
// A flood scenario (etc/scenarios/*.yaml) and the world registry it points at, loaded into
// plain structs. Header-only so the tests use it without the npc-flood executable; the
// world registry is read with the daemon's loader (daemon/config_loader.hpp).
//
// Thread-safety: plain values; load once, then share read-only.
// Failure: load_scenario throws std::runtime_error naming the key and line (1-based);
// load_flood_registry never throws: a missing or invalid registry file falls back to generated
// names (NPC-1..) and a generated grid of waypoints, and says so in `note` (with the loader's
// error, naming file, key and line).
#include <yaml-cpp/yaml.h>

#include "daemon/config_loader.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace orch::tools {

struct chat_mix {
  double addressed = 0.6;    // share of turns naming an NPC (in `target` or in the text)
  double unaddressed = 0.3;  // share of turns to nobody in particular
  double system = 0.1;       // share of `[SYSTEM] ...` notices sent by the game
};

struct scenario {
  std::string name;                 // file stem, for the report
  int games = 1;                    // concurrent game servers simulated
  int npcs_per_game = 10;           // NPCs in each game (registry first, then NPC-k)
  int players_per_game = 5;         // players in each game
  int snapshot_interval_ms = 2000;  // per game
  double chat_turns_per_s = 1.0;    // over all games
  chat_mix mix;                     // shares, normalised on load
  double duration_s = 10.0;         // how long requests are offered
  double drain_s = 3.0;             // how long replies are awaited afterwards
  int connections = 8;              // keep-alive connections in the request pool
  double malformed_share = 0.0;     // share of requests replaced by a bad one (0..1)
  std::string registry_file;        // absolute after loading; empty = generated world
  double world_size = 200.0;        // side of the square world, studs
  std::uint64_t seed = 1;           // for the random walk and chat mix
  int request_timeout_ms = 5000;    // per request (connect, write, read)
  bool listen_events = true;        // long-poll /letta/v1/events per game for replies
  // Stalls (town-12): people stand at the first `stalls` registry locations instead of
  // walking; every swap_period_s two players at different stalls swap places, then two NPCs.
  int stalls = 0;            // 0 = people walk between waypoints
  double swap_period_s = 0;  // 0 = nobody swaps (stalls only)
  // > 0: every NPC of every game is addressed by name (text and `target`) by a player of its
  // group once per period, round robin; replaces chat_turns_per_s and chat_mix.
  double address_period_s = 0;
  // `--set` flags the scenario was written for (e.g. the simulated Letta's latencies), in
  // file order; npc-flood --daemon-settings prints them for scripts/demo.sh.
  std::vector<std::pair<std::string, std::string>> daemon_settings;
};

namespace detail {

inline std::string yaml_where(const YAML::Node& n) { return " (line " + std::to_string(n.Mark().line + 1) + ")"; }

template <class T>
T yaml_number(const YAML::Node& n, const std::string& key, T lo, T hi) {
  T v{};
  try {
    v = n.as<T>();
  } catch (const YAML::Exception&) {
    throw std::runtime_error(key + ": expected a number" + yaml_where(n));
  }
  if (!(v >= lo && v <= hi)) {
    throw std::runtime_error(key + ": out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]" +
                             yaml_where(n));
  }
  return v;
}

}  // namespace detail

// Parses a scenario document. `base_dir` resolves a relative registry_file.
inline scenario parse_scenario(const YAML::Node& root, const std::filesystem::path& base_dir,
                               std::string name = "scenario") {
  if (!root.IsMap()) throw std::runtime_error("scenario: expected a mapping");
  scenario s;
  s.name = std::move(name);
  std::set<std::string> seen;
  std::string address_where;  // where address_period_s was given, for errors
  for (const auto& kv : root) {
    const auto key = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (!seen.insert(key).second) {
      throw std::runtime_error(key + ": duplicate key" + detail::yaml_where(kv.first));
    }
    using detail::yaml_number;
    if (key == "games")
      s.games = yaml_number<int>(v, key, 1, 10000);
    else if (key == "npcs_per_game")
      s.npcs_per_game = yaml_number<int>(v, key, 0, 100000);
    else if (key == "players_per_game")
      s.players_per_game = yaml_number<int>(v, key, 0, 100000);
    else if (key == "snapshot_interval_ms")
      s.snapshot_interval_ms = yaml_number<int>(v, key, 0, 3600000);
    else if (key == "chat_turns_per_s")
      s.chat_turns_per_s = yaml_number<double>(v, key, 0.0, 1e6);
    else if (key == "duration_s")
      s.duration_s = yaml_number<double>(v, key, 0.1, 86400.0);
    else if (key == "drain_s")
      s.drain_s = yaml_number<double>(v, key, 0.0, 600.0);
    else if (key == "connections")
      s.connections = yaml_number<int>(v, key, 1, 4096);
    else if (key == "malformed_share")
      s.malformed_share = yaml_number<double>(v, key, 0.0, 1.0);
    else if (key == "world_size")
      s.world_size = yaml_number<double>(v, key, 1.0, 1e6);
    else if (key == "seed")
      s.seed = yaml_number<std::uint64_t>(v, key, 0, UINT64_MAX);
    else if (key == "request_timeout_ms")
      s.request_timeout_ms = yaml_number<int>(v, key, 10, 600000);
    else if (key == "stalls")
      s.stalls = yaml_number<int>(v, key, 1, 1000);
    else if (key == "swap_period_s")
      s.swap_period_s = yaml_number<double>(v, key, 0.1, 86400.0);
    else if (key == "address_period_s") {
      s.address_period_s = yaml_number<double>(v, key, 0.1, 86400.0);
      address_where = detail::yaml_where(kv.first);
    } else if (key == "daemon_settings") {
      if (!v.IsMap())
        throw std::runtime_error(key + ": expected a mapping of config keys to values" + detail::yaml_where(v));
      for (const auto& e : v) {
        const auto k = e.first.as<std::string>();
        const bool ok_key =
            !k.empty() && k.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_.") == std::string::npos;
        if (!ok_key)
          throw std::runtime_error(key + "." + k + ": not a config key (a.b.c)" + detail::yaml_where(e.first));
        if (!e.second.IsScalar())
          throw std::runtime_error(key + "." + k + ": expected a scalar value" + detail::yaml_where(e.second));
        s.daemon_settings.emplace_back(k, e.second.as<std::string>());
      }
    } else if (key == "listen_events") {
      try {
        s.listen_events = v.as<bool>();
      } catch (const YAML::Exception&) {
        throw std::runtime_error(key + ": expected true or false" + detail::yaml_where(v));
      }
    } else if (key == "registry_file") {
      if (!v.IsScalar()) throw std::runtime_error(key + ": expected a path" + detail::yaml_where(v));
      std::filesystem::path p = v.as<std::string>();
      s.registry_file = (p.is_absolute() ? p : base_dir / p).lexically_normal().string();
    } else if (key == "chat_mix") {
      if (!v.IsMap()) throw std::runtime_error(key + ": expected a mapping" + detail::yaml_where(v));
      chat_mix m{0, 0, 0};
      for (const auto& e : v) {
        const auto k = e.first.as<std::string>();
        const auto path = key + "." + k;
        const double share = detail::yaml_number<double>(e.second, path, 0.0, 1e9);
        if (k == "addressed")
          m.addressed = share;
        else if (k == "unaddressed")
          m.unaddressed = share;
        else if (k == "system")
          m.system = share;
        else
          throw std::runtime_error(path + ": unknown key" + detail::yaml_where(e.first));
      }
      const double total = m.addressed + m.unaddressed + m.system;
      if (total <= 0) throw std::runtime_error(key + ": shares sum to 0" + detail::yaml_where(v));
      s.mix = {m.addressed / total, m.unaddressed / total, m.system / total};
    } else {
      throw std::runtime_error(key + ": unknown key" + detail::yaml_where(kv.first));
    }
  }
  if (s.swap_period_s > 0 && s.stalls == 0) {
    throw std::runtime_error("swap_period_s: needs stalls (people swap stalls)");
  }
  if (!address_where.empty()) {
    if (seen.count("chat_turns_per_s") || seen.count("chat_mix")) {
      throw std::runtime_error("address_period_s: replaces chat_turns_per_s and chat_mix; give one or the other" +
                               address_where);
    }
    if (s.npcs_per_game == 0 || s.players_per_game == 0) {
      throw std::runtime_error("address_period_s: needs npcs_per_game and players_per_game > 0" + address_where);
    }
  }
  return s;
}

inline scenario load_scenario(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw std::runtime_error(path + ": cannot read the file");
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  const std::filesystem::path p(path);
  try {
    return parse_scenario(root, p.parent_path(), p.stem().string());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

// address_period_s: the chat rate that addresses each NPC of each game once per period. Call
// after --games overrides and before apply_rate.
inline void resolve_address_rate(scenario& sc) {
  if (sc.address_period_s <= 0) return;
  sc.chat_turns_per_s = sc.games * static_cast<double>(sc.npcs_per_game) / sc.address_period_s;
  sc.mix = {1.0, 0.0, 0.0};
}

// --rate: scales the snapshot interval and the chat rate so that together they offer `rate`
// requests/s in the scenario's proportions (rate <= 0: unchanged).
inline void apply_rate(scenario& sc, double rate) {
  if (rate <= 0) return;
  const double snaps = sc.snapshot_interval_ms > 0 ? sc.games * 1000.0 / sc.snapshot_interval_ms : 0;
  const double natural = snaps + sc.chat_turns_per_s;
  if (natural <= 0) {
    sc.chat_turns_per_s = rate;  // nothing to scale: offer chat turns
    return;
  }
  const double scale = rate / natural;
  if (sc.snapshot_interval_ms > 0) {
    sc.snapshot_interval_ms = std::max(1, static_cast<int>(std::lround(sc.snapshot_interval_ms / scale)));
  }
  sc.chat_turns_per_s *= scale;
}

// What the flood needs of the world registry: NPC names and ids, waypoint names and places.
struct flood_npc {
  std::string name;
  std::string id;
};
struct waypoint {
  std::string name;
  std::array<double, 3> pos{};
};
struct flood_registry {
  std::vector<flood_npc> npcs;
  std::vector<waypoint> waypoints;
  std::string note;  // how it was obtained, for the report
};

// Fills `r` up to `npc_count` NPCs (NPC-1.. after the registry's) and, when it has fewer than
// three waypoints (too few for groups to form and split), adds a 4x4 grid over the world
// (centred on the origin, y = 3).
inline void complete_registry(flood_registry& r, int npc_count, double world_size) {
  for (int k = 1; static_cast<int>(r.npcs.size()) < npc_count; ++k) {
    r.npcs.push_back({"NPC-" + std::to_string(k), "npc-gen-" + std::to_string(k)});
  }
  if (r.waypoints.size() < 3) {
    constexpr int side = 4;
    const double step = world_size / side;
    for (int i = 0; i < side; ++i) {
      for (int j = 0; j < side; ++j) {
        const double x = -world_size / 2 + step * (i + 0.5);
        const double z = -world_size / 2 + step * (j + 0.5);
        r.waypoints.push_back({"Waypoint " + std::to_string(i * side + j + 1), {x, 3.0, z}});
      }
    }
  }
}

// The daemon's own registry loader (validated the same way), so the flood and the daemon
// agree on names and places.
inline flood_registry load_flood_registry(const std::string& file, int npc_count, double world_size) {
  flood_registry r;
  if (file.empty()) {
    r.note = "generated (no registry_file)";
  } else {
    try {
      const auto reg = orch::daemon::load_world_registry(file);
      for (const auto& n : reg.npcs()) r.npcs.push_back({n.display_name, n.id});
      for (const auto& l : reg.locations())
        r.waypoints.push_back({l.name, {l.coordinates.x, l.coordinates.y, l.coordinates.z}});
      r.note =
          file + ": " + std::to_string(r.npcs.size()) + " NPCs, " + std::to_string(r.waypoints.size()) + " locations";
    } catch (const std::exception& e) {
      r = {};
      r.note = "generated (" + std::string(e.what()) + ")";
    }
  }
  if (static_cast<int>(r.npcs.size()) > npc_count) r.npcs.resize(static_cast<std::size_t>(npc_count));
  complete_registry(r, npc_count, world_size);
  return r;
}

}  // namespace orch::tools
