// npc-flood's stall mode and the town-12 scenario (DESIGN 9's reply-latency town): scenario
// keys and their errors, people dealt over stalls and swapped, NPCs addressed round robin.
// Pure code: the world is stepped by hand, nothing sleeps.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <map>
#include <set>
#include <string>

#include "tools/npc-flood/scenario.hpp"
#include "tools/npc-flood/world_sim.hpp"

using namespace orch::tools;

namespace {

const std::string scenarios_dir = std::string(ORCH_SOURCE_DIR) + "/etc/scenarios/";

scenario parse_text(const std::string& text) { return parse_scenario(YAML::Load(text), "/tmp"); }

// Members of each multi-person group, as sorted name sets.
std::set<std::set<std::string>> groups(const game_world& w) {
  std::set<std::set<std::string>> out;
  for (const auto& c : naive_clusters(w.entities(), game_world::cluster_radius)) {
    std::set<std::string> names;
    for (auto i : c.members) names.insert(w.entities()[i].name);
    out.insert(names);
  }
  return out;
}

}  // namespace

TEST_CASE("flood town-12: twelve registry NPCs and players at six stalls, swaps, addressing, daemon settings") {
  auto s = load_scenario(scenarios_dir + "town-12.yaml");
  CHECK(s.games == 1);
  CHECK(s.npcs_per_game == 12);
  CHECK(s.players_per_game == 12);
  CHECK(s.stalls == 6);
  CHECK(s.swap_period_s == doctest::Approx(5));
  CHECK(s.address_period_s == doctest::Approx(8));
  const std::map<std::string, std::string> sets(s.daemon_settings.begin(), s.daemon_settings.end());
  CHECK(sets.at("letta.simulated.latency_ms") == "500");
  CHECK(sets.at("letta.simulated.block_latency_ms") == "20");
  resolve_address_rate(s);
  CHECK(s.chat_turns_per_s == doctest::Approx(1.5));
  CHECK(s.mix.addressed == doctest::Approx(1.0));
  // The registry it points at holds the twelve NPCs and at least six locations.
  const auto reg = load_flood_registry(s.registry_file, s.npcs_per_game, s.world_size);
  CHECK(reg.npcs.size() == 12);
  for (const auto& n : reg.npcs) CHECK(n.name.rfind("NPC-", 0) != 0);  // none generated
  CHECK(reg.waypoints.size() >= 6);
}

TEST_CASE("flood scenario: stall keys are validated with named errors") {
  auto err = [](const std::string& text) {
    try {
      parse_text(text);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(err("swap_period_s: 5\n").find("swap_period_s: needs stalls") == 0);
  CHECK(err("stalls: 0\n").find("stalls: out of range") == 0);
  CHECK(err("stalls: 2\naddress_period_s: 8\nchat_turns_per_s: 3\n").find("address_period_s: replaces") == 0);
  CHECK(err("address_period_s: 8\nplayers_per_game: 0\n").find("address_period_s: needs") == 0);
  CHECK(err("daemon_settings: {\"Bad Key\": 1}\n").find("daemon_settings.Bad Key: not a config key") == 0);
  CHECK(err("daemon_settings: [a]\n").find("daemon_settings: expected a mapping") == 0);
  CHECK(err("daemon_settings: {a.b: [1]}\n").find("daemon_settings.a.b: expected a scalar") == 0);
  CHECK(err("stalls: 3\nswap_period_s: 2\naddress_period_s: 4\n") == "no error");
}

TEST_CASE("flood world: stalls hold two NPCs and two players each, swaps change groups, not their mix") {
  flood_registry reg;
  for (int i = 0; i < 12; ++i) reg.npcs.push_back({"N" + std::to_string(i), "npc-" + std::to_string(i)});
  for (int i = 0; i < 6; ++i) reg.waypoints.push_back({"Stall " + std::to_string(i), {60.0 * i, 3.0, 0.0}});
  rng_t rng(5);
  game_world w("flood-1", reg, 12, 1, rng, {6, 5.0});
  REQUIRE(w.stall_mode());
  auto check_mix = [&] {
    const auto cs = naive_clusters(w.entities(), game_world::cluster_radius);
    REQUIRE(cs.size() == 6);
    for (const auto& c : cs) {
      CHECK(c.npcs == 2);
      CHECK(c.players == 2);
    }
  };
  check_mix();
  const auto before = groups(w);
  w.step(4.9, rng);
  CHECK(w.swaps() == 0);
  CHECK(groups(w) == before);
  w.step(0.2, rng);  // 5.1 s: one swap of players and one of NPCs
  CHECK(w.swaps() == 2);
  check_mix();
  CHECK(groups(w) != before);
  w.step(10.0, rng);  // two more periods
  CHECK(w.swaps() == 6);
  check_mix();
}

TEST_CASE("flood world: addressed turns go round robin over the NPCs, asked by a player of the group") {
  flood_registry reg;
  for (int i = 0; i < 4; ++i) reg.npcs.push_back({"N" + std::to_string(i), "npc-" + std::to_string(i)});
  for (int i = 0; i < 2; ++i) reg.waypoints.push_back({"Stall " + std::to_string(i), {80.0 * i, 3.0, 0.0}});
  rng_t rng(9);
  game_world w("flood-3", reg, 4, 3, rng, {2, 0});
  std::vector<std::string> targets;
  for (int k = 0; k < 8; ++k) {
    const auto t = w.addressed_turn(rng);
    CHECK(t.k == chat_request::kind::addressed);
    targets.push_back(t.target);
    rapidjson::Document d;
    d.Parse(t.body.c_str());
    REQUIRE_FALSE(d.HasParseError());
    CHECK(std::string(d["target"].GetString()) == t.target);
    CHECK(std::string(d["text"].GetString()).rfind("Hey " + t.target + ", ", 0) == 0);
    CHECK(t.text == d["text"].GetString());
    const sim_entity* npc = nullptr;
    const sim_entity* speaker = nullptr;
    for (const auto& e : w.entities()) {
      if (e.name == t.target) npc = &e;
      if (e.name == t.speaker) speaker = &e;
    }
    REQUIRE(npc != nullptr);
    REQUIRE(speaker != nullptr);
    CHECK_FALSE(speaker->npc);
    CHECK(game_world::distance(npc->pos, speaker->pos) <= game_world::cluster_radius);
  }
  CHECK(targets == std::vector<std::string>{"N0", "N1", "N2", "N3", "N0", "N1", "N2", "N3"});
}
