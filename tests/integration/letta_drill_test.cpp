// Fault drill: the HTTP letta_client against fake-letta under a 429 storm and then a 503
// window. Every call must be delivered exactly once, never two at once for one agent, never
// above the global rate, with retries and breaker transitions in the metrics.
#include <utility>

#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <thread>

#include <rapidjson/document.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "tests/eventually.hpp"
#include "tests/integration/process.hpp"
#include "tests/io_threads.hpp"
#include "workers/letta_discipline.hpp"
#include "workers/letta_factory.hpp"
#include "workers/letta_http.hpp"

using namespace orch;
using namespace orch::workers;
using namespace std::chrono_literals;
using orch::testing::eventually;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// Blocking one-shot HTTP call for the test's control traffic to fake-letta.
std::string http_call(int port, http::verb verb, const std::string& target, const std::string& body = {}) {
  asio::io_context io;
  asio::ip::tcp::resolver res(io);
  beast::tcp_stream s(io);
  s.connect(res.resolve("127.0.0.1", std::to_string(port)));
  http::request<http::string_body> rq{verb, target, 11};
  rq.set(http::field::host, "127.0.0.1");
  rq.set(http::field::content_type, "application/json");
  rq.body() = body;
  rq.prepare_payload();
  http::write(s, rq);
  beast::flat_buffer buf;
  http::response<http::string_body> r;
  http::read(s, buf, r);
  return r.body();
}

using orch::testing::io_threads;

}  // namespace

TEST_CASE("letta drill: 429 storm then 503 window, exactly-once delivery, discipline holds") {
  REQUIRE(std::string(ORCH_FAKE_LETTA_PATH).size() > 0);
  testing::child_process fake({ORCH_FAKE_LETTA_PATH, "--listen", "127.0.0.1:0", "--latency-ms", "15"});
  const int port = fake.wait_for_port();
  REQUIRE(port > 0);

  letta_options o;
  o.backend = letta_backend::http;
  o.base_url = "http://127.0.0.1:" + std::to_string(port);
  o.timeout = 2000ms;
  o.max_in_flight = 8;
  o.global_per_s = 40;
  o.global_burst = 10;
  o.per_agent_per_s = 10;
  o.retry_max_attempts = 12;
  o.retry_base = 20ms;
  o.retry_max = 200ms;
  o.breaker_failure_threshold = 5;
  o.breaker_open = 150ms;

  metrics::registry metrics;
  policies::steady_clock clock;
  io_threads pool(2);
  auto client = make_letta_client(pool.io, o, clock, metrics);
  REQUIRE(simulated_of(client) == nullptr);

  http_call(port, http::verb::post, "/_fake/faults", R"({"mode":"429","count":40})");

  constexpr int calls = 200, agents = 20;
  std::atomic<int> ok{0}, failed{0}, callbacks{0};
  std::mutex mu;
  std::vector<std::string> otids;
  for (int i = 0; i < calls; ++i) {
    const std::string agent = "agent-drill-" + std::to_string(i % agents);
    if (i == calls / 2) {
      // The 503 window opens halfway through submission, while the 429 storm may still run.
      http_call(port, http::verb::post, "/_fake/faults", R"({"mode":"503","count":12})");
    }
    std::vector<letta_message> m{{"user", "turn " + std::to_string(i), "Alice", ""}};
    client->send_messages(agent, std::move(m), [&, agent, i](letta_result r, letta_reply rep) {
      ++callbacks;
      if (r.ok && rep.text == agent + " hears you: turn " + std::to_string(i))
        ++ok;
      else
        ++failed;
    });
    // Slow-peer fixture: the client submits in bursts of 20, 50 ms apart, as a game server
    // would, so that the fault windows open while calls are still arriving.
    if (i % 20 == 19) std::this_thread::sleep_for(50ms);
  }
  eventually([&] { return callbacks.load() >= calls; }, 50s);
  CHECK(callbacks.load() == calls);
  CHECK(ok.load() == calls);
  CHECK(failed.load() == 0);

  const std::string stats = http_call(port, http::verb::get, "/_fake/stats");
  rapidjson::Document d;
  d.Parse(stats.c_str());
  REQUIRE(d.IsObject());
  INFO(stats.substr(0, 600));
  // Exactly once: 200 distinct otids, each answered 200 exactly once.
  const auto& otids200 = d["otids_200"];
  CHECK(otids200.MemberCount() == calls);
  for (auto it = otids200.MemberBegin(); it != otids200.MemberEnd(); ++it) CHECK(it->value.GetUint64() == 1);
  CHECK(d["max_concurrent_per_agent"].GetUint() == 1);
  CHECK(d["concurrency_violations"].GetUint64() == 0);
  CHECK(d["max_per_1s"].GetUint64() <= static_cast<std::uint64_t>(o.global_burst + o.global_per_s));
  CHECK(d["faults_injected"].GetUint64() == 52);

  CHECK(metrics.value("npcorch_letta_retries_total") >= 52);
  CHECK(metrics.value("npcorch_letta_calls_total", {{"endpoint", "messages"}, {"status", "429"}}) == 40);
  CHECK(metrics.value("npcorch_letta_calls_total", {{"endpoint", "messages"}, {"status", "503"}}) == 12);
  CHECK(metrics.value("npcorch_letta_calls_total", {{"endpoint", "messages"}, {"status", "200"}}) == calls);
  CHECK(metrics.value("npcorch_letta_breaker_transitions_total", {{"to", "open"}}) >= 1);
  CHECK(metrics.value("npcorch_letta_breaker_transitions_total", {{"to", "half_open"}}) >= 1);
  CHECK(metrics.value("npcorch_letta_breaker_transitions_total", {{"to", "closed"}}) >= 1);
  CHECK(metrics.value("npcorch_letta_breaker_state") == 0);
  CHECK(metrics.value("npcorch_letta_in_flight") == 0);
  CHECK(metrics.value("npcorch_letta_rate_limited_waits_total") > 0);
  auto* disc = dynamic_cast<letta_discipline*>(client.get());
  REQUIRE(disc != nullptr);
  CHECK(disc->max_agent_concurrency() == 1);
  CHECK(disc->max_in_flight_seen() <= 8);
}

TEST_CASE("letta drill: timeouts, dropped connections, block round-trip and agent verification over HTTP") {
  testing::child_process fake({ORCH_FAKE_LETTA_PATH, "--listen", "127.0.0.1:0", "--latency-ms", "1", "--agents",
                               "agent-a,agent-b", "--token", "sekret"});
  const int port = fake.wait_for_port();
  REQUIRE(port > 0);
  letta_options o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port) + "/";
  o.token = "sekret";
  o.timeout = 300ms;
  o.retry_base = 5ms;
  o.retry_max = 20ms;
  o.retry_max_attempts = 3;
  o.global_per_s = 0;
  o.per_agent_per_s = 0;
  metrics::registry metrics;
  policies::steady_clock clock;
  io_threads pool(1);
  auto client = make_letta_client(pool.io, o, clock, metrics);

  http_call(port, http::verb::post, "/_fake/faults", R"({"mode":"timeout","count":1})");
  http_call(port, http::verb::post, "/_fake/faults", R"({"mode":"drop","count":1})");
  std::promise<letta_result> p1;
  client->update_block("agent-a", "status", "health: 100 | location: Cafe | current_action: Idle",
                       [&](letta_result r) { p1.set_value(r); });
  auto r1 = p1.get_future().get();
  CHECK(r1.ok);
  CHECK(r1.attempts == 3);
  CHECK(metrics.value("npcorch_letta_calls_total", {{"endpoint", "block_update"}, {"status", "timeout"}}) == 1);
  CHECK(metrics.value("npcorch_letta_calls_total", {{"endpoint", "block_update"}, {"status", "error"}}) == 1);

  std::promise<std::pair<letta_result, std::string>> p2;
  client->get_block("agent-a", "status", [&](letta_result r, std::string v) { p2.set_value({r, v}); });
  auto r2 = p2.get_future().get();
  CHECK(r2.first.ok);
  CHECK(r2.second == "health: 100 | location: Cafe | current_action: Idle");

  std::promise<std::vector<std::string>> p3;
  world_registry world({{"npc-a", "A", "", "agent-a"}, {"npc-x", "X", "", "agent-missing"}, {"npc-k", "K", "", ""}},
                       {});
  verify_agents(*client, world, metrics, [&](std::vector<std::string> missing) { p3.set_value(missing); });
  CHECK(p3.get_future().get() == std::vector<std::string>{"agent-missing"});
  CHECK(metrics.value("npcorch_letta_agents_missing") == 1);

  // Without the token: 401, not retried.
  letta_options bad = o;
  bad.token.clear();
  auto anon = make_letta_client(pool.io, bad, clock, metrics);
  std::promise<letta_result> p4;
  anon->get_agent("agent-a", [&](letta_result r) { p4.set_value(r); });
  auto r4 = p4.get_future().get();
  CHECK(r4.http_status == 401);
  CHECK(r4.attempts == 1);
}
