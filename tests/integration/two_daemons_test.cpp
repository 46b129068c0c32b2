// Integration: more than one daemon (DESIGN 10), all on loopback: a real redis-server, two
// daemons, nginx with the shipped etc/nginx/npc-orchestrator.conf (its three addresses
// replaced by free ports) and fake-letta. Every game lands on exactly one daemon; the global
// Letta rate, counted at fake-letta over a window, holds across both daemons while demand
// exceeds it; killing a daemon moves its games to the other through nginx, which reuses their
// conversations (from the shared map); stopping Redis leaves the daemons serving with local
// limits and saying so, and restarting it brings the shared limits back.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include <rapidjson/document.h>

#include "tests/eventually.hpp"
#include "tests/integration/http_client.hpp"

using namespace orch::testing;

namespace {

const char* const redis_server = "/usr/bin/redis-server";
const char* const nginx_bin = "/usr/sbin/nginx";

bool have_tools() { return ::access(redis_server, X_OK) == 0 && ::access(nginx_bin, X_OK) == 0; }

// A port nothing listens on right now (bound, read, released).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

bool accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) s.replace(p, from.size(), to);
}

std::string scene(const std::string& game, const std::string& player) {
  return R"({"gameId":")" + game + R"(","seq":1,"timestamp":1,"events":[],"clusters":[],"humanContext":{
    "Pete":{"kind":"npc","id":"npc-pete","position":{"x":10,"y":3,"z":-12},"health":{"current":100,"max":100}},
    ")" + player +
         R"(":{"kind":"player","id":"p-)" + player +
         R"(","appearance":"a traveller","position":{"x":8,"y":3,"z":-12}}}})";
}

std::string turn(const std::string& game, const std::string& player, int n) {
  return R"({"gameId":")" + game + R"(","speaker":{"name":")" + player + R"(","kind":"player"},"text":"Pete, hello )" +
         std::to_string(n) + R"(","target":"Pete"})";
}

// One request on a fresh connection (a dead upstream must not poison the next request).
http_result post_game(int port, const std::string& target, const std::string& game, const std::string& body) {
  try {
    return http_conn(port, std::chrono::seconds(10)).post(target, body, {{"X-Game-Id", game}});
  } catch (const std::exception&) {
    return {};
  }
}
http_result get_from(int port, const std::string& target) {
  try {
    return http_conn(port, std::chrono::seconds(10)).get(target);
  } catch (const std::exception&) {
    return {};
  }
}

double metric_of(int port, const std::string& sample) { return metric_value(get_from(port, "/metrics").body, sample); }

// fake-letta's /_fake/stats: a top-level number, or requests[endpoint] when `endpoint` is set.
double fake_stat(int port, const char* key, const char* endpoint = nullptr) {
  rapidjson::Document d;
  const auto body = get_from(port, "/_fake/stats").body;
  d.Parse(body.c_str());
  if (!d.IsObject() || !d.HasMember(key)) return endpoint ? 0 : -1;
  const auto& v = d[key];
  if (!endpoint) return v.IsNumber() ? v.GetDouble() : -1;
  return v.IsObject() && v.HasMember(endpoint) && v[endpoint].IsNumber() ? v[endpoint].GetDouble() : 0;
}

// Requests that each take one token of the global rate (message calls and block writes;
// conversation lookups inside an attempt ride on that attempt's token).
double gated_requests(int fake_port) {
  return fake_stat(fake_port, "requests", "conversation_messages") +
         fake_stat(fake_port, "requests", "block_id_update");
}

int pete_messages(int port, const std::string& game) {
  const std::string body = get_from(port, "/letta/v1/events?gameId=" + game + "&since=0").body;
  int n = 0;
  for (std::size_t p = 0; (p = body.find("\"type\":\"npc_message\",\"npc\":\"Pete\"", p)) != std::string::npos; ++p)
    ++n;
  return n;
}

class redis_process {
 public:
  redis_process(int port, const std::string& dir) : port_(port) {
    proc_ = std::make_unique<child_process>(
        std::vector<std::string>{redis_server, "--port", std::to_string(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning"});
  }
  bool ready() {
    return eventually([&] { return accepts(port_); }, std::chrono::seconds(10));
  }
  void stop() { proc_->stop(std::chrono::seconds(5)); }

 private:
  int port_;
  std::unique_ptr<child_process> proc_;
};

// Redis, fake-letta, two daemons and nginx with the shipped config, on free loopback ports.
struct two_daemons {
  std::string dir;
  int redis_port = free_port();
  std::unique_ptr<redis_process> redis;
  std::unique_ptr<child_process> fake;
  int fake_port = 0;
  std::unique_ptr<daemon_under_test> d1, d2;
  std::unique_ptr<child_process> nginx;
  int nginx_port = 0;

  explicit two_daemons(const std::vector<std::string>& extra_sets) {
    char tmpl[] = "/tmp/npcorch-two-XXXXXX";
    dir = ::mkdtemp(tmpl);
    std::filesystem::permissions(dir, std::filesystem::perms(0755));  // nginx workers run as nobody
    redis = std::make_unique<redis_process>(redis_port, dir);
    REQUIRE(redis->ready());
    fake = std::make_unique<child_process>(std::vector<std::string>{ORCH_FAKE_LETTA_PATH, "--listen", "127.0.0.1:0",
                                                                    "--latency-ms", "20", "--world",
                                                                    ORCH_SOURCE_DIR "/etc/world.yaml"});
    fake_port = fake->wait_for_port();
    REQUIRE(fake_port > 0);
    std::vector<std::string> sets{"letta.backend=http",
                                  "letta.base_url=http://127.0.0.1:" + std::to_string(fake_port),
                                  "redis.url=redis://127.0.0.1:" + std::to_string(redis_port),
                                  "redis.key_prefix=test:",
                                  "conversation.npc_cooldown_s=0",
                                  "conversation.player_turns_per_min=600"};
    sets.insert(sets.end(), extra_sets.begin(), extra_sets.end());
    d1 = std::make_unique<daemon_under_test>(sets);
    d2 = std::make_unique<daemon_under_test>(sets);
    REQUIRE(d1->port() > 0);
    REQUIRE(d2->port() > 0);
    nginx_port = free_port();
    std::string conf = read_file(ORCH_SOURCE_DIR "/etc/nginx/npc-orchestrator.conf");
    REQUIRE(conf.find("127.0.0.1:8081") != std::string::npos);
    replace_all(conf, "127.0.0.1:8080", "127.0.0.1:" + std::to_string(nginx_port));
    replace_all(conf, "127.0.0.1:8081", "127.0.0.1:" + std::to_string(d1->port()));
    replace_all(conf, "127.0.0.1:8082", "127.0.0.1:" + std::to_string(d2->port()));
    replace_all(conf, "worker_processes auto;", "worker_processes 1;");
    std::ofstream(dir + "/nginx.conf") << conf;
    nginx = std::make_unique<child_process>(
        std::vector<std::string>{nginx_bin, "-p", dir + "/", "-c", dir + "/nginx.conf", "-g", "daemon off;"});
    REQUIRE(eventually([&] { return accepts(nginx_port); }, std::chrono::seconds(10)));
    for (int p : {d1->port(), d2->port()}) {
      REQUIRE(eventually([&] { return get_from(p, "/readyz").status == 200; }, std::chrono::seconds(15)));
      REQUIRE(eventually([&] { return metric_of(p, "npcorch_redis_up") == 1; }, std::chrono::seconds(10)));
    }
  }
  ~two_daemons() {
    nginx->stop(std::chrono::seconds(5));
    if (d1) d1->stop();
    if (d2) d2->stop();
    fake->stop();
    redis->stop();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  double games(int port) { return metric_of(port, "npcorch_games"); }
};

std::vector<std::pair<std::string, std::string>> make_games(int n) {
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < n; ++i) out.emplace_back("srv-" + std::to_string(i), "Player" + std::to_string(i));
  return out;
}

}  // namespace

TEST_CASE("two daemons behind nginx: each game on exactly one daemon, one global Letta rate for both") {
  REQUIRE_MESSAGE(have_tools(), "redis-server and nginx are needed (scripts/install-deps.sh)");
  // 10 requests/s in all with bursts of 2; Pete's own rate out of the way.
  two_daemons c({"letta.rate.global_per_s=10", "letta.rate.global_burst=2", "letta.rate.per_agent_per_s=1000"});
  const auto games = make_games(16);
  for (int round = 0; round < 2; ++round)
    for (const auto& [game, player] : games)
      REQUIRE(post_game(c.nginx_port, "/letta/v1/snapshot/game", game, scene(game, player)).status == 202);
  // Every game on one daemon: 16 games in all, each counted once, both daemons used.
  REQUIRE(eventually([&] { return c.games(c.d1->port()) + c.games(c.d2->port()) == 16; }, std::chrono::seconds(10)));
  CHECK(c.games(c.d1->port()) >= 1);
  CHECK(c.games(c.d2->port()) >= 1);
  // A body naming another game than its header is refused (it would land on the wrong daemon).
  CHECK(post_game(c.nginx_port, "/letta/v1/snapshot/game", "srv-0", scene("srv-1", "Mallory")).status == 400);
  CHECK(post_game(c.nginx_port, "/letta/v1/chat/turn", "srv-0", turn("srv-1", "Mallory", 0)).status == 400);

  // Each (Pete, game) conversation is set up by the snapshots' block syncs first: the window
  // below then counts only requests that each took one token.
  REQUIRE(eventually([&] { return fake_stat(c.fake_port, "conversations") == 16; }, std::chrono::seconds(15)));
  const double local_before = metric_of(c.d1->port(), "npcorch_redis_rate_asks_total{result=\"local\"}") +
                              metric_of(c.d2->port(), "npcorch_redis_rate_asks_total{result=\"local\"}");

  // Demand far beyond 10/s: four turns per game at once (64 message calls) plus the syncs.
  const double before = gated_requests(c.fake_port);
  const auto t0 = std::chrono::steady_clock::now();
  for (int n = 0; n < 4; ++n)
    for (const auto& [game, player] : games)
      REQUIRE(post_game(c.nginx_port, "/letta/v1/chat/turn", game, turn(game, player, n)).status == 202);
  // The window: until 30 gated requests went out (3 s at the shared rate; 1.5 s were each
  // daemon limited alone), measured by its own count over its own length.
  REQUIRE(eventually([&] { return gated_requests(c.fake_port) - before >= 30; }, std::chrono::seconds(15)));
  const double counted = gated_requests(c.fake_port) - before;
  const double window_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("gated requests at fake-letta: " << counted << " in " << window_s << " s (" << counted / window_s << "/s)");
  // At most the burst plus 10/s over the window (a little slack for requests in flight at its
  // edges); one limit per daemon would have let twice the rate through.
  CHECK(counted <= 2 + 10 * window_s + 3);
  CHECK(counted / window_s >= 6);  // ...and the shared limit was what held it back
  // Demand exceeded the rate on both daemons, both sent requests, all under the shared limit.
  CHECK(metric_of(c.d1->port(), "npcorch_letta_rate_limited_waits_total") > 0);
  CHECK(metric_of(c.d2->port(), "npcorch_letta_rate_limited_waits_total") > 0);
  CHECK(metric_of(c.d1->port(), "npcorch_redis_rate_asks_total{result=\"allowed\"}") > 0);
  CHECK(metric_of(c.d2->port(), "npcorch_redis_rate_asks_total{result=\"allowed\"}") > 0);
  CHECK(metric_of(c.d1->port(), "npcorch_redis_rate_asks_total{result=\"local\"}") +
            metric_of(c.d2->port(), "npcorch_redis_rate_asks_total{result=\"local\"}") ==
        local_before);
  CHECK(fake_stat(c.fake_port, "conversations") == 16);  // one per (Pete, game)
}

TEST_CASE("two daemons: a killed daemon's games move through nginx and keep their conversations; Redis down and back") {
  REQUIRE_MESSAGE(have_tools(), "redis-server and nginx are needed (scripts/install-deps.sh)");
  two_daemons c({"letta.rate.global_per_s=200", "letta.rate.global_burst=50", "letta.rate.per_agent_per_s=200"});
  const auto games = make_games(8);
  for (const auto& [game, player] : games) {
    REQUIRE(post_game(c.nginx_port, "/letta/v1/snapshot/game", game, scene(game, player)).status == 202);
    REQUIRE(post_game(c.nginx_port, "/letta/v1/chat/turn", game, turn(game, player, 1)).status == 202);
  }
  for (const auto& [game, player] : games)
    CHECK_MESSAGE(eventually([&, g = game] { return pete_messages(c.nginx_port, g) >= 1; }, std::chrono::seconds(10)),
                  game);
  REQUIRE(c.games(c.d1->port()) + c.games(c.d2->port()) == 8);
  const double on_d2 = c.games(c.d2->port());
  REQUIRE(on_d2 >= 1);
  REQUIRE(c.games(c.d1->port()) >= 1);
  REQUIRE(fake_stat(c.fake_port, "conversations") == 8);

  // Daemon two dies (no drain). Its games' next requests go to daemon one through nginx.
  ::kill(c.d2->proc().pid(), SIGKILL);
  c.d2->stop();
  c.d2.reset();
  for (const auto& [game, player] : games) {
    REQUIRE(post_game(c.nginx_port, "/letta/v1/snapshot/game", game, scene(game, player)).status == 202);
    REQUIRE(post_game(c.nginx_port, "/letta/v1/chat/turn", game, turn(game, player, 2)).status == 202);
  }
  CHECK(eventually([&] { return c.games(c.d1->port()) == 8; }, std::chrono::seconds(10)));
  for (const auto& [game, player] : games)
    CHECK_MESSAGE(eventually([&, g = game] { return pete_messages(c.d1->port(), g) >= 1; }, std::chrono::seconds(10)),
                  game);
  // The moved games kept their conversations: found in the shared map, none made anew.
  CHECK(fake_stat(c.fake_port, "conversations") == 8);
  CHECK(metric_of(c.d1->port(), "npcorch_letta_conversations_total{how=\"shared\"}") >= on_d2);

  // Redis stops: daemon one keeps serving on local limits and says so.
  c.redis->stop();
  CHECK(eventually([&] { return metric_of(c.d1->port(), "npcorch_redis_up") == 0; }, std::chrono::seconds(10)));
  auto ready = get_from(c.d1->port(), "/readyz");
  CHECK(ready.status == 200);
  CHECK(ready.body.find("\"redis\":\"down") != std::string::npos);
  for (const auto& [game, player] : games)
    REQUIRE(post_game(c.nginx_port, "/letta/v1/chat/turn", game, turn(game, player, 3)).status == 202);
  for (const auto& [game, player] : games)
    CHECK_MESSAGE(eventually([&, g = game] { return pete_messages(c.d1->port(), g) >= 2; }, std::chrono::seconds(10)),
                  game);
  CHECK(metric_of(c.d1->port(), "npcorch_redis_rate_asks_total{result=\"local\"}") >= 1);

  // Redis is back (same port, empty): the daemon reconnects and asks it again.
  c.redis = std::make_unique<redis_process>(c.redis_port, c.dir);
  REQUIRE(c.redis->ready());
  CHECK(eventually([&] { return metric_of(c.d1->port(), "npcorch_redis_up") == 1; }, std::chrono::seconds(10)));
  CHECK(get_from(c.d1->port(), "/readyz").body.find("\"redis\":\"up\"") != std::string::npos);
  const double allowed = metric_of(c.d1->port(), "npcorch_redis_rate_asks_total{result=\"allowed\"}");
  for (const auto& [game, player] : games)
    REQUIRE(post_game(c.nginx_port, "/letta/v1/chat/turn", game, turn(game, player, 4)).status == 202);
  CHECK(
      eventually([&] { return metric_of(c.d1->port(), "npcorch_redis_rate_asks_total{result=\"allowed\"}") > allowed; },
                 std::chrono::seconds(10)));
}
