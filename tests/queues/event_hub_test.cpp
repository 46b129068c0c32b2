#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "queues/event_hub.hpp"

using namespace orch::queues;

namespace {
std::vector<std::uint64_t> seqs(const read_result& r) {
  std::vector<std::uint64_t> out;
  for (auto& e : r.events) out.push_back(e->seq);
  return out;
}
}  // namespace

TEST_CASE("event_hub: per-game seq starts at 1 and the JSON carries it") {
  orch::metrics::registry reg;
  event_hub hub(100, 10, reg);
  CHECK(hub.last_seq("g") == 0);
  CHECK(hub.publish("g", R"("type":"a")") == 1);
  CHECK(hub.publish("g", R"("type":"b")") == 2);
  CHECK(hub.publish("other", R"("type":"c")") == 1);
  auto r = hub.read("g", 0, 100);
  REQUIRE(r.events.size() == 2);
  CHECK(r.events[0]->json == R"({"seq":1,"type":"a"})");
  CHECK(r.events[1]->json == R"({"seq":2,"type":"b"})");
  CHECK(hub.last_seq("g") == 2);
  CHECK(reg.value("npcorch_events_published_total") == 3);
  CHECK(reg.value("npcorch_games") == 2);
}

TEST_CASE("event_hub: read since/next semantics") {
  orch::metrics::registry reg;
  event_hub hub(100, 10, reg);
  for (int i = 0; i < 5; ++i) hub.publish("g", R"("type":"x")");
  auto all = hub.read("g", 0, 100);
  CHECK(seqs(all) == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
  CHECK(all.next == 5);
  CHECK_FALSE(all.reset);
  auto tail = hub.read("g", 3, 100);
  CHECK(seqs(tail) == std::vector<std::uint64_t>{4, 5});
  CHECK(tail.next == 5);
  auto none = hub.read("g", 5, 100);
  CHECK(none.events.empty());
  CHECK(none.next == 5);
  CHECK_FALSE(none.reset);
  auto limited = hub.read("g", 1, 2);
  CHECK(seqs(limited) == std::vector<std::uint64_t>{2, 3});
  CHECK(limited.next == 3);
  auto unknown = hub.read("nope", 0, 10);
  CHECK(unknown.events.empty());
  CHECK(unknown.next == 0);
  CHECK_FALSE(unknown.reset);
}

TEST_CASE("event_hub: bounded replay answers reset when since is too old") {
  orch::metrics::registry reg;
  event_hub hub(3, 10, reg);
  for (int i = 0; i < 5; ++i) hub.publish("g", R"("type":"x")");
  auto r0 = hub.read("g", 0, 100);
  CHECK(r0.reset);
  CHECK(seqs(r0) == std::vector<std::uint64_t>{3, 4, 5});
  CHECK(r0.next == 5);
  auto r1 = hub.read("g", 1, 100);
  CHECK(r1.reset);
  CHECK(seqs(r1) == std::vector<std::uint64_t>{3, 4, 5});
  auto r2 = hub.read("g", 2, 100);  // 3 is still kept: nothing missed
  CHECK_FALSE(r2.reset);
  CHECK(seqs(r2) == std::vector<std::uint64_t>{3, 4, 5});
  auto r5 = hub.read("g", 5, 100);
  CHECK_FALSE(r5.reset);
  CHECK(r5.events.empty());
  // A client ahead of the log (the game was evicted and restarted) is told to start over.
  auto ahead = hub.read("g", 9, 100);
  CHECK(ahead.reset);
  CHECK(seqs(ahead) == std::vector<std::uint64_t>{3, 4, 5});
  CHECK(ahead.next == 5);
}

TEST_CASE("event_hub: the replay buffer is bounded in bytes too, oldest out first, newest always kept") {
  orch::metrics::registry reg;
  // Each event below is {"seq":N,"type":"x","pad":"<90 bytes>"}: about 120 bytes of JSON, and
  // the bookkeeping of one event on top.
  const std::string body = R"("type":"x","pad":")" + std::string(90, 'p') + "\"";
  event_hub hub(100, 500, 10, reg);
  for (int i = 0; i < 10; ++i) hub.publish("g", body);
  auto r = hub.read("g", 0, 100);
  REQUIRE(!r.events.empty());
  // What one event counts: its JSON and the fixed per-event share (no typed fields here).
  const std::size_t each = event_hub::bytes_of(*r.events[0]);
  CHECK(each == event_hub::per_event_bytes + r.events[0]->json.size());
  CHECK(each > 120 + 40);
  std::size_t bytes = 0;
  for (const auto& e : r.events) bytes += event_hub::bytes_of(*e);
  CHECK(bytes <= 500);
  CHECK(bytes + each > 500);  // one more would not fit
  const auto kept = r.events.size();
  CHECK(kept >= 2);
  CHECK(r.events.back()->seq == 10);
  CHECK(r.events.front()->seq == 10 - kept + 1);
  CHECK(r.reset);  // since=0 is older than what is kept
  CHECK(reg.value("npcorch_events_replay_trimmed_total", {{"cap", "bytes"}}) == static_cast<double>(10 - kept));
  CHECK(reg.value("npcorch_events_replay_trimmed_total", {{"cap", "count"}}) == 0);
  // The replay gauge sums the same.
  CHECK(reg.value("npcorch_events_replay_bytes", {}) == static_cast<double>(bytes));
  // Another game has its own budget.
  hub.publish("h", body);
  CHECK(hub.read("h", 0, 100).events.size() == 1);
  // An event larger than the whole cap still replaces the older ones and is kept alone.
  hub.publish("g", R"("type":"big","pad":")" + std::string(800, 'b') + "\"");
  auto big = hub.read("g", 0, 100);
  CHECK(seqs(big) == std::vector<std::uint64_t>{11});
  // The count cap still applies under the byte cap, counted under its own label.
  event_hub small(2, 1 << 20, 10, reg);
  for (int i = 0; i < 5; ++i) small.publish("g", R"("type":"x")");
  CHECK(seqs(small.read("g", 0, 100)) == std::vector<std::uint64_t>{4, 5});
  CHECK(reg.value("npcorch_events_replay_trimmed_total", {{"cap", "count"}}) == 3);
}

TEST_CASE("event_hub: subscribe before the first event - the handle unsubscribes") {
  orch::metrics::registry reg;
  event_hub hub(10, 10, reg);
  std::vector<std::string> got;
  auto sub = hub.subscribe("g", [&](const event_ptr& e) { got.push_back(e->json); });
  CHECK(hub.last_seq("g") == 0);
  hub.publish("g", R"("type":"a")");
  hub.publish("h", R"("type":"other")");
  hub.publish("g", R"("type":"b")");
  CHECK(got == std::vector<std::string>{R"({"seq":1,"type":"a"})", R"({"seq":2,"type":"b"})"});
  sub.reset();
  hub.publish("g", R"("type":"c")");
  CHECK(got.size() == 2);
}

TEST_CASE("event_hub: a callback may drop its own handle") {
  orch::metrics::registry reg;
  event_hub hub(10, 10, reg);
  int calls = 0;
  std::unique_ptr<event_hub::subscription> sub;
  sub = hub.subscribe("g", [&](const event_ptr&) {
    ++calls;
    sub.reset();
  });
  hub.publish("g", R"("type":"a")");
  hub.publish("g", R"("type":"b")");
  CHECK(calls == 1);
}

TEST_CASE("event_hub: games are bounded, least recently active evicted, subscribed kept") {
  orch::metrics::registry reg;
  event_hub hub(10, 2, reg);
  auto sub = hub.subscribe("watched", [](const event_ptr&) {});
  hub.publish("watched", R"("type":"a")");
  hub.publish("g1", R"("type":"a")");
  hub.publish("g2", R"("type":"a")");
  CHECK(hub.last_seq("g1") == 0);  // evicted
  CHECK(hub.last_seq("g2") == 2);  // a new log starts above the seqs evicted logs handed out
  CHECK(hub.last_seq("watched") == 1);
  CHECK(reg.value("npcorch_games") == 2);
  sub.reset();  // counts as activity: g2 is now the least recently active
  hub.publish("g3", R"("type":"a")");
  CHECK(hub.last_seq("g2") == 0);
  CHECK(hub.last_seq("watched") == 1);
  hub.publish("g4", R"("type":"a")");
  CHECK(hub.last_seq("watched") == 0);  // no longer protected
  CHECK(reg.value("npcorch_games") == 2);
  CHECK(reg.value("npcorch_games_evicted_total") == 3);
}

TEST_CASE("event_hub: a handle may outlive the hub") {
  orch::metrics::registry reg;
  std::unique_ptr<event_hub::subscription> sub;
  {
    event_hub hub(10, 10, reg);
    sub = hub.subscribe("g", [](const event_ptr&) {});
    hub.publish("g", R"("type":"a")");
  }
  sub.reset();  // must not touch the destroyed hub
  CHECK(reg.value("npcorch_events_published_total") == 1);
}

TEST_CASE("event_hub: concurrent publishers, subscribers see strictly increasing seq") {
  orch::metrics::registry reg;
  event_hub hub(50, 10, reg);
  std::mutex mu;
  std::vector<std::uint64_t> seen;
  auto sub = hub.subscribe("g", [&](const event_ptr& e) {
    std::lock_guard lk(mu);
    seen.push_back(e->seq);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) hub.publish("g", R"("type":"x")");
    });
  for (auto& t : threads) t.join();
  CHECK(hub.last_seq("g") == 8000);
  REQUIRE(seen.size() == 8000);
  bool increasing = true;
  for (std::size_t i = 0; i < seen.size(); ++i) increasing = increasing && seen[i] == i + 1;
  CHECK(increasing);
  auto r = hub.read("g", 0, 1000);
  CHECK(r.reset);
  CHECK(r.events.size() == 50);
  CHECK(r.events.front()->seq == 7951);
}

TEST_CASE("event_hub: past max_games only idle games are evicted; with none idle a new game is refused") {
  orch::metrics::registry reg;
  orch::policies::manual_clock clock;
  event_hub hub(10, 2, reg);
  hub.set_idle_policy(std::chrono::seconds(60), clock);
  std::vector<std::string> evicted;
  hub.add_evict_listener([&](const std::string& g) { evicted.push_back(g); });
  CHECK(hub.admit("a"));
  CHECK(hub.admit("b"));
  CHECK_FALSE(hub.admit("c"));  // a and b were active just now
  CHECK(reg.value("npcorch_games_refused_total") == 1);
  clock.advance(std::chrono::seconds(30));
  CHECK(hub.admit("a"));  // a known game is always admitted, and this marks it active
  clock.advance(std::chrono::seconds(31));
  CHECK(hub.admit("c"));  // b has been idle 61 s
  CHECK(evicted == std::vector<std::string>{"b"});
  CHECK(hub.games() == 2);
  CHECK(reg.value("npcorch_games_evicted_total") == 1);
  // A subscribed game is never idle, however long it is quiet.
  auto sub = hub.subscribe("c", [](const event_ptr&) {});
  clock.advance(std::chrono::hours(2));
  CHECK(hub.admit("d"));  // evicts a
  CHECK_FALSE(hub.admit("e"));
  CHECK(evicted == std::vector<std::string>{"b", "a"});
}

TEST_CASE("event_hub: a re-created log continues above the evicted seqs, and its old clients get a reset") {
  orch::metrics::registry reg;
  orch::policies::manual_clock clock;
  event_hub hub(10, 1, reg);
  hub.set_idle_policy(std::chrono::seconds(1), clock);
  for (int i = 0; i < 5; ++i) hub.publish("g", R"("type":"x")");
  clock.advance(std::chrono::seconds(2));
  CHECK(hub.admit("other"));  // evicts g
  auto gone = hub.read("g", 3, 10);
  CHECK(gone.reset);
  CHECK(gone.next == 0);
  clock.advance(std::chrono::seconds(2));
  CHECK(hub.publish("g", R"("type":"y")") == 6);  // never reuses 1..5
  auto r = hub.read("g", 3, 10);
  CHECK(r.reset);
  CHECK(seqs(r) == std::vector<std::uint64_t>{6});
  auto behind_empty = hub.read("g", 6, 10);
  CHECK_FALSE(behind_empty.reset);
}

TEST_CASE("event_hub: a since ahead of the log is a reset whose next is where the events start") {
  orch::metrics::registry reg;
  event_hub hub(10, 10, reg);
  auto empty = hub.read("fresh", 12345, 10);  // unknown game, as after a restart
  CHECK(empty.reset);
  CHECK(empty.next == 0);
  auto sub = hub.subscribe("fresh", [](const event_ptr&) {});  // creates the empty log
  auto r = hub.read("fresh", 12345, 10);
  CHECK(r.reset);
  CHECK(r.next == 0);
  CHECK(r.events.empty());
  hub.publish("fresh", R"("type":"x")");
  auto r2 = hub.read("fresh", 12345, 10);
  CHECK(r2.reset);
  CHECK(seqs(r2) == std::vector<std::uint64_t>{1});
}

TEST_CASE("event_hub: publish_all gives the events publishing each in turn gives, with none between them") {
  orch::metrics::registry reg;
  event_hub one(100, 10, reg), all(100, 10, reg);
  std::vector<event_body> bodies{cluster_update{"c1", {"A", "B"}, {{"A", {1, 2, 3}}}, {"B"}, {}},
                                 npc_typing{"Pete", "c1", {"Ann"}, std::string("t-1")},
                                 turn_dropped{"t-2", "speaker_left"}, cluster_update{"c2", {}, {}, {}, {"C"}}};
  CHECK(all.publish_all("g", std::span<const event_body>()) == 0);  // nothing: no log made either
  CHECK(all.games() == 0);
  one.publish("g", R"("type":"x")");
  all.publish("g", R"("type":"x")");
  std::vector<std::uint64_t> delivered;
  auto sub = all.subscribe("g", [&](const event_ptr& e) { delivered.push_back(e->seq); });
  std::uint64_t last = 0;
  for (const auto& b : bodies) last = one.publish("g", b);
  // Two threads publish to the game at once: each batch stays contiguous.
  std::thread other([&] {
    for (int i = 0; i < 50; ++i) all.publish("g", R"("type":"y")");
  });
  const auto mine = all.publish_all("g", bodies);
  other.join();
  auto a = one.read("g", 0, 100), b = all.read("g", 0, 100);
  REQUIRE(a.events.size() == 5);
  REQUIRE(b.events.size() == 55);
  std::size_t at = 0;
  while (at < b.events.size() && b.events[at]->seq != mine - 3) ++at;
  REQUIRE(at + 4 <= b.events.size());
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& want = *a.events[1 + i];
    const auto& got = *b.events[at + i];
    // The same event, but for its seq.
    auto strip = [](const event& e) { return e.json.substr(e.json.find(',')); };
    CHECK(strip(got) == strip(want));
    CHECK(std::string_view(got.type) == std::string_view(want.type));
    CHECK(got.fields().npc == want.fields().npc);
    CHECK(got.fields().in_reply_to == want.fields().in_reply_to);
    CHECK(got.fields().turn_id == want.fields().turn_id);
    CHECK(got.seq == mine - 3 + i);
  }
  CHECK(last == 5);
  CHECK(delivered.size() == 54);
  bool increasing = true;
  for (std::size_t i = 0; i < delivered.size(); ++i) increasing = increasing && delivered[i] == i + 2;
  CHECK(increasing);
}
