// npc-flood's pure parts (no network, no daemon, no clocks): scenario loading, the world
// simulation and its payloads, the malformed requests, the Prometheus text reader, URL rules
// and the run statistics. The runs against a real daemon are in tests/integration/flood_test.cpp.
#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "tools/npc-flood/flood_stats.hpp"
#include "tools/npc-flood/malformed.hpp"
#include "tools/npc-flood/prom_text.hpp"
#include "tools/npc-flood/scenario.hpp"
#include "tools/npc-flood/target_url.hpp"
#include "tools/npc-flood/world_sim.hpp"

using namespace orch::tools;

namespace {

const std::string scenarios_dir = std::string(ORCH_SOURCE_DIR) + "/etc/scenarios/";

flood_registry small_registry() {
  flood_registry r;
  r.npcs = {{"Pete", "npc-pete"}, {"Kaiden", "npc-kaiden"}};
  r.waypoints = {{"Cafe", {12, 3, -40.5}}, {"Market", {45, 3, 15}}, {"Square", {0, 3, 0}}};
  return r;
}

rapidjson::Document parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(s.c_str(), s.size());
  return d;
}

}  // namespace

TEST_CASE("flood scenario: keys parse, registry path resolves, chat mix is normalised") {
  const auto root = YAML::Load(
      "games: 3\nnpcs_per_game: 7\nplayers_per_game: 2\nsnapshot_interval_ms: 500\n"
      "chat_turns_per_s: 12.5\nchat_mix: {addressed: 2, unaddressed: 1, system: 1}\n"
      "duration_s: 4\nconnections: 5\nmalformed_share: 0.25\nregistry_file: ../world.yaml\n"
      "world_size: 80\nseed: 99\n");
  const auto s = parse_scenario(root, "/tmp/x/scenarios", "t");
  CHECK(s.games == 3);
  CHECK(s.npcs_per_game == 7);
  CHECK(s.players_per_game == 2);
  CHECK(s.snapshot_interval_ms == 500);
  CHECK(s.chat_turns_per_s == doctest::Approx(12.5));
  CHECK(s.mix.addressed == doctest::Approx(0.5));
  CHECK(s.mix.unaddressed == doctest::Approx(0.25));
  CHECK(s.mix.system == doctest::Approx(0.25));
  CHECK(s.duration_s == doctest::Approx(4));
  CHECK(s.connections == 5);
  CHECK(s.malformed_share == doctest::Approx(0.25));
  CHECK(s.registry_file == "/tmp/x/world.yaml");
  CHECK(s.world_size == doctest::Approx(80));
  CHECK(s.seed == 99);
}

TEST_CASE("flood scenario: unknown keys, bad types and ranges are errors naming key and line") {
  auto error_of = [](const char* text) -> std::string {
    try {
      parse_scenario(YAML::Load(text), "/tmp");
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  };
  CHECK(error_of("games: 1\nbogus: 2\n") == "bogus: unknown key (line 2)");
  CHECK(error_of("games: many\n") == "games: expected a number (line 1)");
  CHECK(error_of("games: 1\nconnections: 0\n").find("connections: out of range") == 0);
  CHECK(error_of("malformed_share: 1.5\n").find("malformed_share: out of range") == 0);
  CHECK(error_of("chat_mix: {addressed: 1, shouting: 1}\n") == "chat_mix.shouting: unknown key (line 1)");
  CHECK(error_of("chat_mix: {addressed: 0, unaddressed: 0, system: 0}\n").find("shares sum to 0") != std::string::npos);
  CHECK(error_of("games: 1\ngames: 2\n") == "games: duplicate key (line 2)");
  CHECK(error_of("- 1\n") == "scenario: expected a mapping");
}

TEST_CASE("flood scenario: the shipped scenarios load with the figures the design names") {
  const auto town = load_scenario(scenarios_dir + "town-50.yaml");
  CHECK(town.games == 1);
  CHECK(town.npcs_per_game == 50);
  CHECK(town.players_per_game == 20);
  CHECK(town.snapshot_interval_ms == 2000);
  CHECK(std::filesystem::path(town.registry_file).filename() == "world.yaml");

  const auto servers = load_scenario(scenarios_dir + "servers-20.yaml");
  CHECK(servers.games == 20);
  CHECK(servers.npcs_per_game == 25);
  CHECK(servers.snapshot_interval_ms == 2000);

  const auto storm = load_scenario(scenarios_dir + "chat-storm.yaml");
  // ~10x the conversation queue's capacity (5000) over the run, snapshots continuing.
  CHECK(storm.chat_turns_per_s * storm.duration_s >= 50000);
  CHECK(storm.snapshot_interval_ms > 0);

  const auto bad = load_scenario(scenarios_dir + "malformed.yaml");
  CHECK(bad.malformed_share >= 0.3);

  CHECK_THROWS_WITH_AS(load_scenario(scenarios_dir + "no-such.yaml"), doctest::Contains("cannot read the file"),
                       std::runtime_error);
}

TEST_CASE("flood scenario: --rate scales snapshots and chat in proportion") {
  scenario s;
  s.games = 10;
  s.snapshot_interval_ms = 2000;  // 5 snapshots/s
  s.chat_turns_per_s = 5;         // 10 requests/s in all
  apply_rate(s, 100);
  CHECK(s.snapshot_interval_ms == 200);  // 50 snapshots/s
  CHECK(s.chat_turns_per_s == doctest::Approx(50));
  scenario quiet;
  quiet.snapshot_interval_ms = 0;
  quiet.chat_turns_per_s = 0;
  apply_rate(quiet, 7);
  CHECK(quiet.chat_turns_per_s == doctest::Approx(7));
}

TEST_CASE("flood registry: the daemon's loader, registry NPCs first, then NPC-k, a bad file falls back to a grid") {
  const std::string file = (std::filesystem::temp_directory_path() / "flood_test_world.yaml").string();
  const std::string bad_file = (std::filesystem::temp_directory_path() / "flood_test_world_bad.yaml").string();
  {
    std::ofstream f(file);
    f << "npcs:\n  - {id: npc-pete, display_name: Pete}\n  - {id: npc-ivy, display_name: Ivy}\n"
         "locations:\n  - {slug: cafe, name: Cafe, coordinates: [12.0, 3.0, -40.5]}\n"
         "  - {slug: a, name: A, coordinates: [1, 2, 3]}\n  - {slug: b, name: B, coordinates: [4, 5, 6]}\n";
    std::ofstream b(bad_file);
    b << "npcs:\n  - {id: npc-pete, display_name: Pete}\n"
         "locations:\n  - {slug: broken, name: Broken, coordinates: [1, 2]}\n";
  }
  const auto r = load_flood_registry(file, 4, 100);
  REQUIRE(r.npcs.size() == 4);
  CHECK(r.npcs[0].name == "Pete");
  CHECK(r.npcs[0].id == "npc-pete");
  CHECK(r.npcs[1].name == "Ivy");
  CHECK(r.npcs[2].name == "NPC-1");
  CHECK(r.npcs[3].id == "npc-gen-2");
  REQUIRE(r.waypoints.size() == 3);
  CHECK(r.waypoints[0].name == "Cafe");
  CHECK(r.waypoints[0].pos[2] == doctest::Approx(-40.5));

  const auto few = load_flood_registry(file, 1, 100);
  CHECK(few.npcs.size() == 1);

  // Validated as the daemon validates it: a location without three coordinates rejects the
  // file, and the note carries the loader's error.
  const auto bad = load_flood_registry(bad_file, 2, 100);
  CHECK(bad.note.find("generated (") == 0);
  CHECK(bad.note.find("coordinates") != std::string::npos);
  CHECK(bad.npcs[0].name == "NPC-1");

  const auto gen = load_flood_registry("/nonexistent/world.yaml", 3, 100);
  CHECK(gen.npcs.size() == 3);
  CHECK(gen.npcs[0].name == "NPC-1");
  CHECK(gen.waypoints.size() == 16);
  CHECK(gen.note.find("generated") == 0);
  for (const auto& w : gen.waypoints) {
    CHECK(std::abs(w.pos[0]) < 50);
    CHECK(std::abs(w.pos[2]) < 50);
  }
  std::filesystem::remove(file);
  std::filesystem::remove(bad_file);
}

TEST_CASE("flood world: naive game clusters are single-link, transitive, singletons included") {
  std::vector<sim_entity> es(4);
  es[0].pos = {0, 0, 0};
  es[1].pos = {9, 0, 0};   // 9 from a
  es[2].pos = {18, 0, 0};  // 9 from b, 18 from a: same cluster through b
  es[3].pos = {40, 0, 0};
  es[0].npc = true;
  const auto c = naive_clusters(es, 10.0);
  REQUIRE(c.size() == 2);
  CHECK(c[0].members == std::vector<std::size_t>{0, 1, 2});
  CHECK(c[0].npcs == 1);
  CHECK(c[0].players == 2);
  CHECK(c[1].members == std::vector<std::size_t>{3});
}

TEST_CASE("flood world: snapshots are the original format with positions, gameId and rising seq") {
  rng_t rng(5);
  game_world w("flood-1", small_registry(), 3, 1, rng);
  const auto body1 = w.snapshot_body(1737874917);
  const auto body2 = w.snapshot_body(1737874919);
  const auto d = parse(body1);
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["gameId"].GetString()) == "flood-1");
  CHECK(d["seq"].GetUint64() == 1);
  CHECK(parse(body2)["seq"].GetUint64() == 2);
  CHECK(d["timestamp"].GetInt64() == 1737874917);
  CHECK(d["events"].IsArray());
  REQUIRE(d["clusters"].IsArray());
  const auto& hc = d["humanContext"];
  REQUIRE(hc.IsObject());
  CHECK(hc.MemberCount() == 5);
  std::size_t clustered = 0;
  for (const auto& c : d["clusters"].GetArray()) clustered += c["members"].Size();
  CHECK(clustered == 5);  // the game's clusters cover everyone, singletons included
  const auto& pete = hc["Pete"];
  CHECK(std::string(pete["kind"].GetString()) == "npc");
  CHECK(std::string(pete["id"].GetString()) == "npc-pete");
  CHECK(pete["position"]["x"].IsNumber());
  CHECK(pete["position"]["z"].IsNumber());
  CHECK(pete["health"]["max"].GetInt() == 100);
  CHECK(pete["health"]["isMoving"].IsBool());
  CHECK(pete["lastSeen"].GetInt64() == 1737874917);
  CHECK(std::string(hc["Player-1-1"]["kind"].GetString()) == "player");
  CHECK(std::string(hc["Player-1-1"]["id"].GetString()) == "1010001");
}

TEST_CASE("flood world: a seed replays the walk - groups form and split over time") {
  rng_t a(42), b(42);
  game_world wa("g", small_registry(), 8, 1, a);
  game_world wb("g", small_registry(), 8, 1, b);
  auto partition = [](const game_world& w) {
    std::set<std::vector<std::size_t>> p;
    for (const auto& c : naive_clusters(w.entities(), game_world::cluster_radius)) p.insert(c.members);
    return p;
  };
  std::set<std::set<std::vector<std::size_t>>> seen;
  int moving_max = 0;
  for (int t = 0; t < 300; ++t) {
    wa.step(1.0, a);
    wb.step(1.0, b);
    seen.insert(partition(wa));
    int moving = 0;
    for (const auto& e : wa.entities()) moving += e.moving ? 1 : 0;
    moving_max = std::max(moving_max, moving);
  }
  CHECK(wa.snapshot_body(1) == wb.snapshot_body(1));
  CHECK(seen.size() > 5);  // memberships changed many times
  CHECK(moving_max > 0);
}

TEST_CASE("flood world: chat turns follow the mix and the /chat/turn body shape") {
  rng_t rng(3);
  game_world w("flood-2", small_registry(), 4, 2, rng);
  for (int i = 0; i < 20; ++i) {
    const auto sys = w.chat_turn({0, 0, 1}, rng);
    CHECK(sys.k == chat_request::kind::system);
    const auto d = parse(sys.body);
    REQUIRE_FALSE(d.HasParseError());
    CHECK(std::string(d["text"].GetString()).rfind("[SYSTEM] ", 0) == 0);
    CHECK(std::string(d["gameId"].GetString()) == "flood-2");
    CHECK(std::string(d["speaker"]["kind"].GetString()) == "player");

    const auto ask = w.chat_turn({1, 0, 0}, rng);
    CHECK(ask.k == chat_request::kind::addressed);
    CHECK((ask.target == "Pete" || ask.target == "Kaiden"));
    const auto da = parse(ask.body);
    const std::string text = da["text"].GetString();
    const bool by_field = da.HasMember("target") && ask.target == da["target"].GetString();
    const bool by_text = text.rfind(ask.target + ",", 0) == 0;
    CHECK((by_field || by_text));

    const auto none = w.chat_turn({0, 1, 0}, rng);
    CHECK(none.target.empty());
    CHECK_FALSE(parse(none.body).HasMember("target"));
  }
}

TEST_CASE("flood malformed: every kind is bad in its own way") {
  std::set<std::string> labels;
  for (std::size_t k = 0; k < malformed_kinds.size(); ++k) {
    const auto r = malformed_request(k, "flood-1");
    labels.insert(r.label);
    CHECK(r.label == malformed_kinds[k]);
    CHECK(r.expected / 100 == 4);
    const std::string label = r.label;
    if (label == "huge_body") CHECK(r.body.size() > 1024 * 1024);
    if (label == "deep_nesting") CHECK(r.body.find(std::string(10000, '[')) != std::string::npos);
    if (label == "invalid_json" || label == "nan" || label == "bad_utf8" || label == "empty_body" ||
        label == "number_out_of_range") {
      CHECK(parse(r.body).HasParseError());
    }
    if (label == "wrong_type") {
      const auto d = parse(r.body);
      REQUIRE_FALSE(d.HasParseError());
      CHECK(d["humanContext"]["Diamond"]["position"]["x"].IsString());
    }
    if (label == "missing_field") CHECK_FALSE(parse(r.body).HasMember("humanContext"));
    if (label == "wrong_content_type") CHECK(r.content_type == "text/plain");
    if (label == "wrong_method") CHECK(r.method == "GET");
    if (label == "unknown_route") CHECK(r.target != snapshot_path);
  }
  CHECK(labels.size() == malformed_kinds.size());
}

TEST_CASE("flood prometheus text: samples, sums over labels, histogram bucket quantiles, deltas") {
  const std::string text =
      "# HELP npcorch_queue_accepted_total Accepted.\n"
      "# TYPE npcorch_queue_accepted_total counter\n"
      "npcorch_queue_accepted_total{queue=\"urgent\"} 120\n"
      "npcorch_queue_accepted_total{queue=\"conversation\"} 30\n"
      "npcorch_letta_calls_total{endpoint=\"messages\",status=\"200\"} 7\n"
      "npcorch_letta_calls_total{endpoint=\"blocks\",status=\"200\"} 5\n"
      "npcorch_queue_wait_seconds_bucket{queue=\"urgent\",le=\"0.001\"} 50\n"
      "npcorch_queue_wait_seconds_bucket{queue=\"urgent\",le=\"0.01\"} 98\n"
      "npcorch_queue_wait_seconds_bucket{queue=\"urgent\",le=\"0.05\"} 100\n"
      "npcorch_queue_wait_seconds_bucket{queue=\"urgent\",le=\"+Inf\"} 100\n"
      "npcorch_queue_wait_seconds_bucket{queue=\"conversation\",le=\"0.5\"} 1\n"
      "npcorch_queue_wait_seconds_bucket{queue=\"conversation\",le=\"+Inf\"} 10\n"
      "npcorch_queue_depth{queue=\"urgent\"} 3\n"
      "garbage line {\n";
  const prom_text m(text);
  CHECK(m.bad_lines() == 1);
  CHECK(m.sum("npcorch_letta_calls_total").value() == doctest::Approx(12));
  CHECK(m.sum("npcorch_queue_accepted_total", {{"queue", "urgent"}}).value() == doctest::Approx(120));
  CHECK_FALSE(m.sum("npcorch_letta_block_writes_total").has_value());
  CHECK(m.label_values("npcorch_queue_accepted_total", "queue") == std::set<std::string>{"conversation", "urgent"});
  CHECK(m.quantile_bound("npcorch_queue_wait_seconds", 0.5, {{"queue", "urgent"}}).value() == doctest::Approx(0.001));
  CHECK(m.quantile_bound("npcorch_queue_wait_seconds", 0.99, {{"queue", "urgent"}}).value() == doctest::Approx(0.05));
  CHECK(std::isinf(m.quantile_bound("npcorch_queue_wait_seconds", 0.99, {{"queue", "conversation"}}).value()));
  CHECK_FALSE(m.quantile_bound("npcorch_queue_wait_seconds", 0.99, {{"queue", "background"}}).has_value());

  const prom_text later(
      "npcorch_queue_accepted_total{queue=\"urgent\"} 200\n"
      "npcorch_queue_depth{queue=\"urgent\"} 1\n");
  const auto d = prom_text::delta(m, later);
  CHECK(d.sum("npcorch_queue_accepted_total").value() == doctest::Approx(80));
  CHECK(d.sum("npcorch_queue_depth").value() == doctest::Approx(1));  // gauges are not deltas
}

TEST_CASE("flood target URL: loopback only, ports and IPv6 parsed") {
  std::string err;
  auto t = parse_target("http://127.0.0.1:8080", err);
  REQUIRE(t);
  CHECK(t->host == "127.0.0.1");
  CHECK(t->port == 8080);
  CHECK(t->host_header() == "127.0.0.1:8080");
  auto v6 = parse_target("http://[::1]:9000/metrics", err);
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->path == "/metrics");
  CHECK(v6->host_header() == "[::1]:9000");
  CHECK(parse_target("http://localhost", err)->port == 80);
  CHECK_FALSE(parse_target("http://10.1.2.3:8080", err));
  CHECK(err.find("refusing non-loopback") == 0);
  CHECK_FALSE(parse_target("http://example.com:80", err));
  CHECK_FALSE(parse_target("http://127.0.0.1.evil.com:80", err));
  CHECK_FALSE(parse_target("https://127.0.0.1:443", err));
  CHECK_FALSE(parse_target("http://127.0.0.1:0", err));
  CHECK_FALSE(parse_target("http://127.0.0.1:99999", err));
}

TEST_CASE("flood stats: percentiles by nearest rank, turn outcomes, malformed verdicts") {
  latency_recorder l;
  CHECK_FALSE(l.percentile(0.5).has_value());
  for (int i = 1; i <= 100; ++i) l.add(i / 1000.0);
  CHECK(l.percentile(0.5).value() == doctest::Approx(0.050));
  CHECK(l.percentile(0.99).value() == doctest::Approx(0.099));
  CHECK(l.max().value() == doctest::Approx(0.100));

  turn_stats t;
  t.accepted = 10;
  t.replied = 6;
  t.dropped["shed"] = 3;
  CHECK(t.nothing() == 1);

  malformed_stats m;
  m.record("nan", 400);
  m.record("huge_body", 413);
  CHECK(m.all_4xx());
  m.record("deep_nesting", 500);
  m.record("bad_utf8", 0);
  CHECK_FALSE(m.all_4xx());
  CHECK(m.by_kind["deep_nesting"].got_5xx == 1);
  CHECK(m.by_kind["bad_utf8"].dropped == 1);
  CHECK(m.sent() == 4);

  flood_stats a, b;
  a.kinds["snapshot"].offered = 3;
  a.kinds["snapshot"].statuses[202] = 2;
  b.kinds["snapshot"].offered = 4;
  b.kinds["snapshot"].statuses[202] = 1;
  b.kinds["snapshot"].statuses[429] = 1;
  a.merge(b);
  CHECK(a.kinds["snapshot"].offered == 7);
  CHECK(a.kinds["snapshot"].status_class(2) == 3);
  CHECK(a.kinds["snapshot"].status_class(4) == 1);
}
