// Tests of daemon/config_loader: the shipped reference config, error reporting (path, line,
// range), duplicate keys, --set overrides, path resolution, token files and the registry.
#include "daemon/config_loader.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>

#include "daemon/world_registry_loader.hpp"

namespace fs = std::filesystem;
using namespace orch;
using daemon::config_error;
using daemon::load_config;
using daemon::load_config_text;

namespace {

// A fresh directory under /tmp, removed at the end of the test.
struct temp_dir {
  fs::path path;
  explicit temp_dir(const std::string& tag) {
    static std::atomic<int> n{0};
    path =
        fs::path("/tmp") / ("orch-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + "-" + tag);
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& rel, const std::string& text) const {
    fs::path p = path / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
};

// The errors of a load that must fail (fails the test if it succeeds).
std::vector<std::string> errors_of(const std::string& yaml, const std::vector<std::string>& sets = {},
                                   const std::string& base_dir = "/nonexistent-orch-dir") {
  try {
    load_config_text(yaml, base_dir, sets);
  } catch (const config_error& e) {
    CHECK(std::string(e.what()).find(e.errors.front()) != std::string::npos);
    return e.errors;
  }
  FAIL("expected a config_error for:\n" << yaml);
  return {};
}

bool has_error(const std::vector<std::string>& errs, const std::string& exact) {
  return std::find(errs.begin(), errs.end(), exact) != errs.end();
}

bool has_error_containing(const std::vector<std::string>& errs, const std::string& a, const std::string& b = "") {
  return std::any_of(errs.begin(), errs.end(), [&](const std::string& e) {
    return e.find(a) != std::string::npos && e.find(b) != std::string::npos;
  });
}

std::string dump(const std::vector<std::string>& errs) {
  std::string s;
  for (auto& e : errs) s += e + "\n";
  return s;
}

daemon::config load_ok(const std::string& yaml, const std::vector<std::string>& sets = {},
                       const std::string& base_dir = "/nonexistent-orch-dir") {
  try {
    return load_config_text(yaml, base_dir, sets);
  } catch (const config_error& e) {
    FAIL("unexpected config_error:\n" << std::string(e.what()));
    throw;
  }
}

void check_queue(const queues::queue_config& a, const queues::queue_config& b) {
  CHECK(a.name == b.name);
  CHECK(a.max_latency == b.max_latency);
  CHECK(a.workers == b.workers);
  CHECK(a.capacity == b.capacity);
  CHECK(a.overflow == b.overflow);
}

// Everything but paths, tokens, the registry and letta.backend equals the built-in defaults.
void check_defaults(const daemon::config& c) {
  const daemon::config d;
  CHECK(c.server.host == d.server.host);
  CHECK(c.server.port == d.server.port);
  CHECK(c.server.auth_token_file.empty());
  CHECK(c.server.auth_token.empty());
  CHECK(c.server.max_body_bytes == d.server.max_body_bytes);
  CHECK(c.server.drain_timeout == d.server.drain_timeout);
  CHECK(c.server.read_timeout == d.server.read_timeout);
  CHECK(c.server.threads == d.server.threads);
  CHECK(c.server.max_connections == d.server.max_connections);
  CHECK(c.server.ws_outbound_max == d.server.ws_outbound_max);
  CHECK(c.server.ws_max_message_bytes == d.server.ws_max_message_bytes);
  REQUIRE(c.queues.queues.size() == d.queues.queues.size());
  for (std::size_t i = 0; i < d.queues.queues.size(); ++i) check_queue(c.queues.queues[i], d.queues.queues[i]);
  CHECK(c.queues.routes == d.queues.routes);
  CHECK(c.world.cluster_radius_studs == d.world.cluster_radius_studs);
  CHECK(c.world.movement_threshold_studs == d.world.movement_threshold_studs);
  CHECK(c.world.stale_after == d.world.stale_after);
  CHECK(c.world.force_refresh == d.world.force_refresh);
  CHECK(c.world.player_cache_ttl == d.world.player_cache_ttl);
  const auto &cv = c.conversation, &dv = d.conversation;
  CHECK(cv.max_responders == dv.max_responders);
  CHECK(cv.npc_cooldown == dv.npc_cooldown);
  CHECK(cv.max_concurrent_speakers == dv.max_concurrent_speakers);
  CHECK(cv.max_npc_chain == dv.max_npc_chain);
  CHECK(cv.entry_notice_cooldown == dv.entry_notice_cooldown);
  CHECK(cv.notice_delay == dv.notice_delay);
  CHECK(cv.turn_timeout == dv.turn_timeout);
  CHECK(cv.player_turns_per_min == dv.player_turns_per_min);
  CHECK(cv.sync_wait == dv.sync_wait);
  const auto &cl = c.letta, &dl = d.letta;
  CHECK(cl.base_url == dl.base_url);
  CHECK(cl.token_file.empty());
  CHECK(cl.token.empty());
  CHECK(cl.timeout == dl.timeout);
  CHECK(cl.connect_timeout == dl.connect_timeout);
  CHECK(cl.max_response_bytes == dl.max_response_bytes);
  CHECK(cl.max_in_flight == dl.max_in_flight);
  CHECK(cl.global_per_s == dl.global_per_s);
  CHECK(cl.global_burst == dl.global_burst);
  CHECK(cl.per_agent_per_s == dl.per_agent_per_s);
  CHECK(cl.retry_max_attempts == dl.retry_max_attempts);
  CHECK(cl.retry_base == dl.retry_base);
  CHECK(cl.retry_max == dl.retry_max);
  CHECK(cl.breaker_failure_threshold == dl.breaker_failure_threshold);
  CHECK(cl.breaker_open == dl.breaker_open);
  CHECK(cl.simulated_latency == dl.simulated_latency);
  CHECK(cl.simulated_block_latency == dl.simulated_block_latency);
  CHECK(cl.sync_share == dl.sync_share);
  CHECK(cl.conversations == dl.conversations);
  CHECK(cl.conversations == workers::letta_conversations::per_game);
  CHECK(c.events.replay_capacity == d.events.replay_capacity);
  CHECK(c.events.replay_bytes == d.events.replay_bytes);
  CHECK(c.events.max_games == d.events.max_games);
  CHECK(c.events.max_wait == d.events.max_wait);
  CHECK(c.memory.arena_max == d.memory.arena_max);
  CHECK(c.memory.trim_interval == d.memory.trim_interval);
  CHECK(c.memory.stats_interval == d.memory.stats_interval);
}

}  // namespace

TEST_CASE("config_loader: shipped etc/npc-orchestrator.yaml loads and equals the built-in defaults") {
  const std::string path = std::string(ORCH_SOURCE_DIR) + "/etc/npc-orchestrator.yaml";
  const auto c = load_config(path, {});
  check_defaults(c);
  CHECK(c.letta.backend == workers::letta_backend::simulated);  // the shipped choice
  CHECK(c.source_path == fs::path(path).lexically_normal().string());
  CHECK(c.world.registry_file == (fs::path(ORCH_SOURCE_DIR) / "etc" / "world.yaml").lexically_normal().string());
  // The shipped registry: a dozen NPCs with agents, and the town's locations.
  REQUIRE(c.registry);
  CHECK(c.registry->npcs().size() == 12);
  CHECK(c.registry->locations().size() >= 8);
  for (const char* id : {"npc-pete", "npc-kaiden", "npc-goldie", "npc-oscar", "npc-noobster"}) {
    const auto* npc = c.registry->find_npc(id);
    REQUIRE_MESSAGE(npc, id);
    CHECK(daemon::detail::valid_agent_id(npc->agent_id));
  }
  CHECK(c.registry->find_npc("Pete")->id == "npc-pete");
  CHECK(c.registry->find_npc("Diamond") == nullptr);  // a player, not an NPC
  const auto* cafe = c.registry->nearest_location({12.0, 3.0, -40.0});
  REQUIRE(cafe);
  CHECK(cafe->name == "Cafe");
}

TEST_CASE("config_loader: empty config gives the built-in defaults and a missing default registry is empty") {
  temp_dir dir("empty");
  const auto c = load_ok("", {}, dir.path.string());
  check_defaults(c);
  CHECK(c.letta.backend == workers::letta_backend::http);
  CHECK(c.registry->npcs().empty());
  CHECK(c.world.registry_file == (dir.path / "world.yaml").string());
}

TEST_CASE("config_loader: errors name the path and the 1-based line and the allowed range") {
  const std::string yaml =
      "server:\n"                   // 1
      "  listen: 127.0.0.1:8080\n"  // 2
      "queues:\n"                   // 3
      "  conversation:\n"           // 4
      "    workers: 2\n"            // 5
      "  urgent:\n"                 // 6
      "    max_latency_ms: -5\n";   // 7
  const auto errs = errors_of(yaml);
  CHECK_MESSAGE(errs.size() == 1, dump(errs));
  CHECK(has_error(errs, "queues.urgent.max_latency_ms: expected a positive integer (line 7)"));
}

TEST_CASE("config_loader: unknown keys are errors naming path and line at every level") {
  const std::string yaml =
      "server:\n"
      "  listen: 127.0.0.1:8080\n"
      "  listn: 127.0.0.1:9000\n"  // 3
      "letta:\n"
      "  retry:\n"
      "    max_attempt: 3\n"  // 6
      "bogus: 1\n"            // 7
      "queues:\n"
      "  urgent: {workers: 2, prio: 9}\n";  // 9
  const auto errs = errors_of(yaml);
  CHECK_MESSAGE(errs.size() == 4, dump(errs));
  CHECK(has_error_containing(errs, "server.listn: unknown key (expected one of: listen,", "(line 3)"));
  CHECK(has_error_containing(errs, "letta.retry.max_attempt: unknown key", "(line 6)"));
  CHECK(has_error_containing(errs, "bogus: unknown key", "(line 7)"));
  CHECK(has_error_containing(errs, "queues.urgent.prio: unknown key", "(line 9)"));
}

TEST_CASE("config_loader: wrong types and out-of-range values are all reported together") {
  const std::string yaml =
      "server:\n"
      "  listen: localhost\n"     // 2: no port
      "  threads: 0\n"            // 3
      "  max_body_bytes: lots\n"  // 4
      "queues:\n"
      "  urgent:\n"
      "    overflow: drop\n"  // 7
      "    capacity: 1.5\n"   // 8
      "world:\n"
      "  cluster_radius_studs: 0\n"         // 10
      "  movement_threshold_studs: .nan\n"  // 11
      "conversation:\n"
      "  max_npc_chain: 101\n"  // 13
      "letta:\n"
      "  backend: grpc\n"                    // 15
      "  base_url: https://letta.example\n"  // 16
      "  rate: {global_per_s: -1}\n"         // 17
      "events:\n"
      "  max_wait_ms: [1, 2]\n";  // 19
  const auto errs = errors_of(yaml);
  CHECK_MESSAGE(errs.size() == 12, dump(errs));
  CHECK(has_error(errs, "server.listen: expected host:port with port in [0, 65535] (line 2)"));
  CHECK(has_error(errs, "server.threads: expected an integer in [1, 256] (line 3)"));
  CHECK(has_error(errs, "server.max_body_bytes: expected an integer in [1, 1073741824] (line 4)"));
  CHECK(has_error(errs, "queues.urgent.overflow: expected one of: reject, shed_oldest (line 7)"));
  CHECK(has_error(errs, "queues.urgent.capacity: expected an integer in [1, 100000000] (line 8)"));
  CHECK(has_error(errs, "world.cluster_radius_studs: expected a number in (0, 10000] (line 10)"));
  CHECK(has_error(errs, "world.movement_threshold_studs: expected a number in [0, 1000] (line 11)"));
  CHECK(has_error(errs, "conversation.max_npc_chain: expected an integer in [0, 100] (line 13)"));
  CHECK(has_error(errs, "letta.backend: expected one of: http, simulated (line 15)"));
  CHECK(has_error(errs, "letta.base_url: expected http://host[:port][/prefix] (line 16)"));
  CHECK(has_error(errs, "letta.rate.global_per_s: expected a number in (0, 1e+06] (line 17)"));
  CHECK(has_error(errs, "events.max_wait_ms: expected an integer in [0, 3600000] (line 19)"));
}

TEST_CASE("config_loader: values are parsed exactly") {
  const auto c = load_ok(
      "server: {listen: '[::1]:0', max_body_bytes: 2048}\n"
      "letta: {base_url: 'http://letta.internal:9000/api/', retry: {base_ms: 100, max_ms: 100}}\n"
      "world: {cluster_radius_studs: 12.5}\n"
      "conversation: {max_npc_chain: 0, npc_cooldown_s: 0}\n"
      "chat: {sync_wait_ms: 1500}\n"
      "memory: {arena_max: 3, trim_interval_ms: 30000, stats_interval_ms: 0}\n");
  CHECK(c.server.host == "::1");
  CHECK(c.server.port == 0);
  CHECK(c.server.max_body_bytes == 2048);
  CHECK(c.letta.base_url == "http://letta.internal:9000/api");
  CHECK(c.letta.retry_base == std::chrono::milliseconds(100));
  CHECK(c.world.cluster_radius_studs == 12.5);
  CHECK(c.conversation.max_npc_chain == 0);
  CHECK(c.conversation.npc_cooldown == std::chrono::seconds(0));
  CHECK(c.conversation.sync_wait == std::chrono::milliseconds(1500));
  CHECK(c.memory.arena_max == 3);
  CHECK(c.memory.trim_interval == std::chrono::milliseconds(30000));
  CHECK(c.memory.stats_interval == std::chrono::milliseconds(0));
  CHECK(has_error(errors_of("memory: {arena_max: 2000}\n"),
                  "memory.arena_max: expected an integer in [0, 1024] (line 1)"));
  // A 32-bit field refuses what does not fit.
  CHECK(has_error(errors_of("queues: {urgent: {max_latency_ms: 99999999999}}\n"),
                  "queues.urgent.max_latency_ms: expected a positive integer (at most 4294967295) (line 1)"));
  CHECK(has_error(errors_of("letta:\n  retry: {base_ms: 500, max_ms: 100}\n"),
                  "letta.retry.max_ms: must be >= letta.retry.base_ms (500) (line 2)"));
}

TEST_CASE("config_loader: duplicate keys are errors") {
  const std::string yaml =
      "server:\n"
      "  listen: 127.0.0.1:1\n"
      "  listen: 127.0.0.1:2\n"  // 3
      "queues:\n"
      "  urgent: {workers: 1}\n"
      "  urgent: {workers: 2}\n"  // 6
      "server: {}\n";             // 7
  const auto errs = errors_of(yaml);
  CHECK_MESSAGE(errs.size() == 3, dump(errs));
  CHECK(has_error(errs, "server.listen: duplicate key (line 3)"));
  CHECK(has_error(errs, "queues.urgent: duplicate key (line 6)"));
  CHECK(has_error(errs, "server: duplicate key (line 7)"));
}

TEST_CASE("config_loader: partial queues fill from their defaults and new queues from generic defaults") {
  const auto c = load_ok(
      "queues:\n"
      "  bulk: {workers: 4}\n"
      "  conversation: {capacity: 7}\n"
      "routes: {memory_sync: bulk}\n");
  // YAML order first, then the default queues the YAML left out.
  REQUIRE(c.queues.queues.size() == 4);
  check_queue(c.queues.queues[0], {"bulk", std::chrono::milliseconds(1000), 4, 1000, queues::overflow_policy::reject});
  check_queue(c.queues.queues[1],
              {"conversation", std::chrono::milliseconds(2000), 3, 7, queues::overflow_policy::shed_oldest});
  CHECK(c.queues.queues[2].name == "urgent");
  CHECK(c.queues.queues[3].name == "background");
  CHECK(c.queues.route(queues::message_kind::memory_sync).name == "bulk");
  CHECK(c.queues.route(queues::message_kind::snapshot).name == "urgent");
  CHECK(c.queues.route(queues::message_kind::npc_reply).name == "conversation");
  CHECK(c.queues.route(queues::message_kind::system_notice).name == "conversation");

  const auto errs = errors_of(
      "queues:\n"
      "  Bad-Name: {}\n"  // 2
      "routes:\n"
      "  snapshot: nowhere\n"  // 4
      "  gossip: urgent\n");   // 5
  CHECK_MESSAGE(errs.size() == 3, dump(errs));
  CHECK(has_error_containing(errs, "queues.Bad-Name: queue names must match [a-z0-9_]+", "(line 2)"));
  CHECK(has_error(errs, "routes.snapshot: unknown queue 'nowhere' (line 4)"));
  CHECK(has_error_containing(errs, "routes.gossip: unknown message kind", "(line 5)"));
}

TEST_CASE("config_loader: --set overrides (last wins - creates queues - sets routes - errors say --set)") {
  const std::string yaml =
      "server:\n"
      "  listen: 127.0.0.1:8080\n"
      "queues:\n"
      "  urgent: {workers: 2}\n";
  const auto c = load_ok(yaml, {"server.listen=127.0.0.1:9001", "queues.urgent.workers=7", "server.listen=0.0.0.0:9002",
                                "queues.flood.capacity=3", "queues.flood.overflow=shed_oldest",
                                "routes.chat_turn=flood", "letta.backend=simulated", "chat.sync_wait_ms=250",
                                "letta.conversations=agent", "world.cluster_radius_studs='15'"});
  CHECK(c.server.host == "0.0.0.0");
  CHECK(c.server.port == 9002);
  const auto& urgent = c.queues.queues[*c.queues.index_of("urgent")];
  CHECK(urgent.workers == 7);
  CHECK(urgent.max_latency == std::chrono::milliseconds(500));
  REQUIRE(c.queues.index_of("flood"));
  check_queue(c.queues.route(queues::message_kind::chat_turn),
              {"flood", std::chrono::milliseconds(1000), 1, 3, queues::overflow_policy::shed_oldest});
  CHECK(c.letta.backend == workers::letta_backend::simulated);
  CHECK(c.letta.conversations == workers::letta_conversations::agent);
  CHECK(c.conversation.sync_wait == std::chrono::milliseconds(250));
  CHECK(c.world.cluster_radius_studs == 15.0);

  const auto errs =
      errors_of(yaml, {"server.listne=1.2.3.4:5", "queues.urgent.workers=0", "routes.snapshot=nope", "server.threads",
                       "server.listen.port=1", "newsection.x=1", "a..b=1", "letta.conversations=per_npc"});
  CHECK_MESSAGE(errs.size() == 8, dump(errs));
  CHECK(has_error(errs, "letta.conversations: expected one of: per_game, agent (--set)"));
  CHECK(has_error_containing(errs, "server.listne: unknown key", "(--set)"));
  CHECK(has_error(errs, "queues.urgent.workers: expected an integer in [1, 10000] (--set)"));
  CHECK(has_error(errs, "routes.snapshot: unknown queue 'nope' (--set)"));
  CHECK(has_error(errs, "--set 'server.threads': expected path.to.key=value"));
  CHECK(has_error(errs, "server.listen: is not a map, cannot --set 'server.listen.port' (--set)"));
  CHECK(has_error_containing(errs, "newsection: unknown key", "(--set)"));
  CHECK(has_error(errs, "--set 'a..b=1': expected path.to.key=value"));
}

TEST_CASE("config_loader: relative paths resolve against the config folder and token files are read and trimmed") {
  temp_dir dir("paths");
  dir.write("conf/secrets/api.token", "  s3cret-api\n\n");
  dir.write("conf/letta.token", "\tletta-tok \n");
  dir.write("conf/reg/town.yaml", "npcs:\n  - {id: npc-a, display_name: Ada}\nlocations: []\n");
  const std::string path = dir.write("conf/orch.yaml",
                                     "server: {auth_token_file: secrets/api.token}\n"
                                     "letta: {token_file: letta.token}\n"
                                     "world: {registry_file: reg/town.yaml}\n");
  const auto c = load_config(path, {});
  CHECK(c.server.auth_token_file == (dir.path / "conf/secrets/api.token").string());
  CHECK(c.server.auth_token == "s3cret-api");
  CHECK(c.letta.token_file == (dir.path / "conf/letta.token").string());
  CHECK(c.letta.token == "letta-tok");
  CHECK(c.world.registry_file == (dir.path / "conf/reg/town.yaml").string());
  REQUIRE(c.registry->npcs().size() == 1);
  CHECK(c.registry->find_npc("Ada")->agent_id.empty());

  // An absolute path set with --set is kept as is.
  const std::string other = dir.write("elsewhere/tok", "abc");
  CHECK(load_config(path, {"server.auth_token_file=" + other}).server.auth_token == "abc");
  // An empty value switches auth off.
  CHECK(load_config(path, {"server.auth_token_file="}).server.auth_token.empty());
}

TEST_CASE("config_loader: token file problems and a missing explicit registry are errors") {
  temp_dir dir("tokens");
  dir.write("empty.token", " \n\t\n");
  const std::string path = dir.write("orch.yaml",
                                     "server:\n"
                                     "  auth_token_file: empty.token\n"  // 2
                                     "letta:\n"
                                     "  token_file: missing.token\n"  // 4
                                     "world:\n"
                                     "  registry_file: nowhere.yaml\n");  // 6
  try {
    load_config(path, {});
    FAIL("expected a config_error");
  } catch (const config_error& e) {
    CHECK_MESSAGE(e.errors.size() == 3, e.what());
    CHECK(has_error(e.errors, "server.auth_token_file: token file '" + (dir.path / "empty.token").string() +
                                  "' is empty (line 2)"));
    CHECK(has_error(
        e.errors, "letta.token_file: cannot read token file '" + (dir.path / "missing.token").string() + "' (line 4)"));
    CHECK(has_error(e.errors, "world.registry_file: registry file '" + (dir.path / "nowhere.yaml").string() +
                                  "' not found (line 6)"));
  }
  CHECK_THROWS_AS(load_config((dir.path / "no-such.yaml").string(), {}), config_error);
}

TEST_CASE("config_loader: registry errors name the file and the path and the line") {
  temp_dir dir("registry");
  const std::string reg =
      dir.write("world.yaml",
                "npcs:\n"
                "  - {id: npc-a, display_name: Ada, agent_id: agent-1b4e28ba-2fa1-4d2b-a883-0f0e3c1a9d4e}\n"  // 2
                "  - {id: npc-b, display_name: Bo, agent_id: agent-1b4e28ba-2fa1-1d2b-a883-0f0e3c1a9d4e}\n"   // 3: v1
                "  - {id: npc-a, display_name: Cy}\n"                                                         // 4
                "  - {id: npc-d, display_name: Ada, agent_id: agent-1b4e28ba-2fa1-4d2b-a883-0f0e3c1a9d4e}\n"  // 5
                "  - {display_name: Eve, mood: happy}\n"                                                      // 6
                "locations:\n"
                "  - {slug: cafe, name: Cafe, coordinates: [1, 2, 3]}\n"        // 8
                "  - {slug: cafe, name: Cafe 2, coordinates: [1, 2]}\n"         // 9
                "  - {slug: Bad Slug, name: Park, coordinates: [1, x, 3]}\n");  // 10
  const std::string path = dir.write("orch.yaml", "{}\n");
  std::vector<std::string> errs;
  try {
    load_config(path, {});
    FAIL("expected a config_error");
  } catch (const config_error& e) {
    errs = e.errors;
  }
  const std::string f = (dir.path / "world.yaml").string() + ": ";
  CHECK_MESSAGE(errs.size() == 10, dump(errs));
  CHECK(has_error_containing(errs, f + "npcs[1].agent_id: expected agent-<uuid4>", "(line 3)"));
  CHECK(has_error(errs, f + "npcs[2].id: duplicate id 'npc-a' (first at npcs[0].id) (line 4)"));
  CHECK(has_error(errs,
                  f + "npcs[3].display_name: duplicate display_name 'Ada' (first at npcs[0].display_name) (line 5)"));
  CHECK(has_error(errs, f + "npcs[3].agent_id: duplicate agent_id 'agent-1b4e28ba-2fa1-4d2b-a883-0f0e3c1a9d4e' "
                            "(first at npcs[0].agent_id) (line 5)"));
  CHECK(has_error_containing(errs, f + "npcs[4].mood: unknown key", "(line 6)"));
  CHECK(has_error(errs, f + "npcs[4]: missing required key 'id' (line 6)"));
  CHECK(has_error(errs, f + "locations[1].slug: duplicate slug 'cafe' (first at locations[0].slug) (line 9)"));
  CHECK(has_error(errs, f + "locations[1].coordinates: expected [x, y, z] (line 9)"));
  CHECK(has_error(errs, f + "locations[2].slug: slugs must match [a-z0-9_-]+ (line 10)"));
  CHECK(has_error(errs, f + "locations[2].coordinates[1]: expected a number in [-1e+07, 1e+07] (line 10)"));

  // The same file through the public registry loader.
  CHECK_THROWS_AS(daemon::load_world_registry(reg), config_error);
  const auto good = daemon::load_world_registry(std::string(ORCH_SOURCE_DIR) + "/etc/world.yaml");
  CHECK(good.npcs().size() == 12);
}

TEST_CASE("config_loader: agent ids must be agent-<lowercase uuid4>") {
  using daemon::detail::valid_agent_id;
  CHECK(valid_agent_id("agent-1b4e28ba-2fa1-4d2b-a883-0f0e3c1a9d4e"));
  CHECK(valid_agent_id("agent-00000000-0000-4000-b000-000000000000"));
  CHECK_FALSE(valid_agent_id("1b4e28ba-2fa1-4d2b-a883-0f0e3c1a9d4e"));
  CHECK_FALSE(valid_agent_id("agent-1B4E28BA-2fa1-4d2b-a883-0f0e3c1a9d4e"));
  CHECK_FALSE(valid_agent_id("agent-1b4e28ba-2fa1-4d2b-c883-0f0e3c1a9d4e"));  // variant
  CHECK_FALSE(valid_agent_id("agent-1b4e28ba-2fa1-4d2b-a883-0f0e3c1a9d4"));   // short
  CHECK_FALSE(valid_agent_id("agent-1b4e28ba2fa1-4d2b-a883-0f0e3c1a9d4e0"));
}

TEST_CASE("config_loader: YAML syntax errors and a non-map document are reported with the source") {
  const auto errs = errors_of("server:\n  listen: [1, 2\n");
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].rfind("<text>: ", 0) == 0);
  CHECK(errs[0].find("(line ") != std::string::npos);
  const auto errs2 = errors_of("- a\n- b\n");
  CHECK(has_error(errs2, "<text>: expected a map at the top level"));
}
