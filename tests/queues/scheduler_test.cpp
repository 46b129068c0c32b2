// Tick-harness tests of the pure scheduler: manual time, no threads, no sleeps.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "queues/scheduler.hpp"

using namespace orch::queues;
using namespace std::chrono_literals;
using orch::policies::time_point;

namespace {

// "prefix" + number without GCC 12's -Wrestrict false positive on operator+ at -O2.
std::string key_of(const char* prefix, std::size_t n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

const time_point t0{std::chrono::hours(1)};

message msg(message_kind k, std::string key, int payload, bool coalesce = false) {
  message m;
  m.kind = k;
  m.key = std::move(key);
  m.coalesce = coalesce;
  m.payload = std::make_shared<int>(payload);
  return m;
}
int payload_of(const message& m) { return *m.payload.as<int>(); }

queues_config cfg3(std::size_t urgent_cap = 10000, std::size_t conv_cap = 5000) {
  auto c = queues_config::defaults();
  c.queues[0].capacity = urgent_cap;
  c.queues[1].capacity = conv_cap;
  return c;
}

}  // namespace

TEST_CASE("scheduler: the earliest deadline wins across queues - FIFO within a queue") {
  scheduler s(cfg3());
  // conversation (2000 ms budget) arrives first, urgent (500 ms) later: urgent's deadline
  // (t0+600) is earlier than conversation's (t0+2000).
  auto c1 = s.submit(msg(message_kind::npc_reply, "a1", 1), t0);
  auto c2 = s.submit(msg(message_kind::npc_reply, "a2", 2), t0 + 10ms);
  auto u1 = s.submit(msg(message_kind::snapshot, "g1", 3), t0 + 100ms);
  CHECK(c1.status == push_status::accepted);
  CHECK(c2.queue == 1);
  CHECK(u1.queue == 0);
  auto first = s.next(t0 + 200ms);
  REQUIRE(first);
  CHECK(payload_of(*first) == 3);
  CHECK(first->deadline == t0 + 600ms);
  auto second = s.next(t0 + 200ms);
  auto third = s.next(t0 + 200ms);
  REQUIRE(second);
  REQUIRE(third);
  CHECK(payload_of(*second) == 1);
  CHECK(payload_of(*third) == 2);
  CHECK_FALSE(s.next(t0 + 200ms));
}

TEST_CASE("scheduler: a flood in one queue does not push another queue past its budget") {
  scheduler s(cfg3(10000, 500));
  std::multimap<time_point, message> running;  // completion time -> message
  std::uint64_t urgent_started = 0;
  time_point now = t0;
  for (int tick = 0; tick < 1000; ++tick, now += 10ms) {
    for (auto it = running.begin(); it != running.end() && it->first <= now; it = running.erase(it))
      s.complete(it->second.queue, it->second.key);
    // Flood: 30 conversation messages per 10 ms tick (3 workers at 300 ms each can do 0.1).
    for (int i = 0; i < 30; ++i) s.submit(msg(message_kind::npc_reply, key_of("agent", i), tick), now);
    // Steady urgent stream: one snapshot per tick for rotating games.
    s.submit(msg(message_kind::snapshot, key_of("game", tick % 7), tick), now);
    while (auto m = s.next(now)) {
      if (m->queue == 0) {
        ++urgent_started;
        CHECK(now - m->arrival <= 500ms);
        running.emplace(now + 20ms, std::move(*m));
      } else {
        running.emplace(now + 300ms, std::move(*m));
      }
    }
  }
  CHECK(urgent_started == 1000);
  CHECK(s.stats(0).deadline_misses == 0);
  CHECK(s.stats(0).rejected == 0);
  CHECK(s.stats(1).depth == 500);  // exactly at capacity, the rest shed
  CHECK(s.stats(1).shed == s.stats(1).accepted - s.stats(1).started - 500);
  CHECK(s.stats(1).shed > 29000);
}

TEST_CASE("scheduler: per-key order and exclusivity under many interleaved keys") {
  scheduler s(cfg3());
  std::mt19937 rng(42);
  std::map<std::string, std::vector<std::uint64_t>> accepted, started;
  std::set<std::string> busy;
  std::multimap<time_point, message> running;
  time_point now = t0;
  const message_kind kinds[] = {message_kind::snapshot, message_kind::npc_reply, message_kind::memory_sync,
                                message_kind::chat_turn, message_kind::system_notice};
  int submitted = 0;
  for (int tick = 0; tick < 3000 || !running.empty() || s.queued() > 0; ++tick, now += 5ms) {
    for (auto it = running.begin(); it != running.end() && it->first <= now; it = running.erase(it)) {
      busy.erase(it->second.key);
      s.complete(it->second.queue, it->second.key);
    }
    if (tick < 3000)
      for (int i = 0; i < 3; ++i) {
        auto key = key_of("k", rng() % 40);
        auto m = msg(kinds[rng() % 5], key, submitted++);
        auto r = s.submit(std::move(m), now);
        REQUIRE(r.status == push_status::accepted);
        accepted[key].push_back(static_cast<std::uint64_t>(submitted));  // accept_seq == order
      }
    while (auto m = s.next(now)) {
      CHECK(busy.insert(m->key).second);  // never two of one key at once
      started[m->key].push_back(m->accept_seq);
      running.emplace(now + std::chrono::milliseconds(rng() % 40), std::move(*m));
    }
    REQUIRE(tick < 100000);
  }
  CHECK(submitted == 9000);
  CHECK(started == accepted);  // every message started once, per key in accept order
  CHECK(s.key_count() == 0);   // nothing left behind per key
  CHECK(s.in_flight() == 0);
}

TEST_CASE("scheduler: a busy key does not block other keys of its queue") {
  auto c = cfg3();
  c.queues[0].workers = 2;
  scheduler s(c);
  s.submit(msg(message_kind::snapshot, "g1", 1), t0);
  s.submit(msg(message_kind::snapshot, "g1", 2), t0);
  s.submit(msg(message_kind::snapshot, "g2", 3), t0);
  auto a = s.next(t0);
  REQUIRE(a);
  CHECK(payload_of(*a) == 1);
  auto b = s.next(t0);  // g1's second is blocked behind the running first; g2 goes
  REQUIRE(b);
  CHECK(payload_of(*b) == 3);
  CHECK_FALSE(s.next(t0));
  s.complete(a->queue, a->key);
  auto d = s.next(t0);
  REQUIRE(d);
  CHECK(payload_of(*d) == 2);
}

TEST_CASE("scheduler: keys are global across queues") {
  scheduler s(cfg3());
  s.submit(msg(message_kind::memory_sync, "agent-1", 1), t0);  // background
  s.submit(msg(message_kind::npc_reply, "agent-1", 2), t0);    // conversation, earlier deadline
  s.submit(msg(message_kind::npc_reply, "agent-2", 3), t0);
  auto a = s.next(t0);
  REQUIRE(a);
  CHECK(payload_of(*a) == 3);  // agent-1's npc_reply waits behind its older memory_sync
  auto b = s.next(t0);
  REQUIRE(b);
  CHECK(payload_of(*b) == 1);
  CHECK(b->queue == 2);
  CHECK_FALSE(s.next(t0));
  s.complete(b->queue, b->key);
  auto d = s.next(t0);
  REQUIRE(d);
  CHECK(payload_of(*d) == 2);
}

TEST_CASE("scheduler: coalescing replaces the queued payload in place and counts") {
  scheduler s(cfg3());
  s.submit(msg(message_kind::snapshot, "g1", 1, true), t0);
  s.submit(msg(message_kind::snapshot, "g2", 10, true), t0 + 1ms);
  auto r = s.submit(msg(message_kind::snapshot, "g1", 2, true), t0 + 100ms);
  CHECK(r.status == push_status::coalesced);
  REQUIRE(r.dropped);
  CHECK(payload_of(*r.dropped) == 1);
  CHECK(s.stats(0).coalesced == 1);
  CHECK(s.stats(0).depth == 2);
  CHECK(s.stats(0).accepted == 3);
  // A non-coalescing message of the same key queues behind.
  CHECK(s.submit(msg(message_kind::snapshot, "g1", 3), t0 + 100ms).status == push_status::accepted);
  auto a = s.next(t0 + 200ms);
  REQUIRE(a);
  CHECK(payload_of(*a) == 2);        // new payload
  CHECK(a->deadline == t0 + 500ms);  // old place and deadline
  CHECK(a->accept_seq == 1);
  // The running one is no longer a coalescing target.
  CHECK(s.submit(msg(message_kind::snapshot, "g1", 4, true), t0 + 200ms).status == push_status::accepted);
  CHECK(s.stats(0).coalesced == 1);
  CHECK(s.stats(0).depth == 3);
}

TEST_CASE("scheduler: exact capacity, reject and shed_oldest counted") {
  auto c = cfg3(3, 3);
  scheduler s(c);
  for (int i = 0; i < 3; ++i)
    CHECK(s.submit(msg(message_kind::snapshot, key_of("g", i), i), t0).status == push_status::accepted);
  auto rej = s.submit(msg(message_kind::snapshot, "gx", 99), t0);
  CHECK(rej.status == push_status::rejected);
  REQUIRE(rej.dropped);
  CHECK(payload_of(*rej.dropped) == 99);
  CHECK(s.stats(0).rejected == 1);
  CHECK(s.stats(0).depth == 3);

  std::vector<int> shed;
  for (int i = 0; i < 5; ++i) {
    auto r = s.submit(msg(message_kind::npc_reply, key_of("a", i), i), t0 + std::chrono::milliseconds(i));
    if (r.status == push_status::shed) shed.push_back(payload_of(*r.dropped));
  }
  CHECK(shed == std::vector<int>{0, 1});
  CHECK(s.stats(1).shed == 2);
  CHECK(s.stats(1).depth == 3);
  CHECK(s.key_count() == 6);  // shed messages leave no key state behind
  std::vector<int> order;
  while (auto m = s.next(t0))
    if (m->queue == 1) order.push_back(payload_of(*m));
  CHECK(order.size() == 3);  // 3 workers
  CHECK(order == std::vector<int>{2, 3, 4});
}

TEST_CASE("scheduler: reconfigure keeps every queued message and its deadline") {
  scheduler s(cfg3());
  std::map<std::uint64_t, time_point> deadlines;
  for (int i = 0; i < 10; ++i) {
    auto m = msg(i % 2 ? message_kind::snapshot : message_kind::npc_reply, key_of("k", i), i);
    s.stamp(m, t0 + std::chrono::milliseconds(i));
    deadlines[m.accept_seq] = m.deadline;
    s.push(std::move(m));
  }
  // New order in the file, new budgets, capacities below the depth, a new queue, new routes.
  queues_config n;
  n.queues = {{"conversation", 50ms, 1, 2, overflow_policy::shed_oldest},
              {"extra", 10ms, 1, 10, overflow_policy::reject},
              {"urgent", 5000ms, 1, 2, overflow_policy::reject},
              {"background", 100ms, 1, 10, overflow_policy::shed_oldest}};
  n.routes = {2, 1, 0, 0, 3};  // chat_turn -> extra
  std::string err;
  REQUIRE(s.reconfigure(n, err));
  CHECK(s.config().queues[0].name == "urgent");  // indexes are kept, new queues appended
  CHECK(s.config().queues[3].name == "extra");
  CHECK(s.config().routes[1] == 3);
  CHECK(s.queued() == 10);
  CHECK(s.stats(0).depth == 5);
  CHECK(s.stats(1).depth == 5);
  // Over capacity: new arrivals are rejected (reject) or shed one for one (shed_oldest).
  CHECK(s.submit(msg(message_kind::snapshot, "new", 100), t0 + 20ms).status == push_status::rejected);
  auto shed = s.submit(msg(message_kind::npc_reply, "new2", 101), t0 + 20ms);
  CHECK(shed.status == push_status::shed);
  CHECK(payload_of(*shed.dropped) == 0);
  CHECK(s.stats(1).depth == 5);
  // Everything that was queued comes out with its original deadline.
  s.reconfigure(
      [&] {
        auto w = n;
        for (auto& q : w.queues) q.workers = 100;
        return w;
      }(),
      err);
  std::size_t seen = 0;
  while (auto m = s.next(t0 + 30ms)) {
    if (deadlines.count(m->accept_seq)) {
      CHECK(m->deadline == deadlines[m->accept_seq]);
      ++seen;
    }
  }
  CHECK(seen == 9);  // one of the 10 was shed above
  // Removing a queue is refused and changes nothing.
  queues_config bad = n;
  bad.queues.pop_back();
  bad.routes = {0, 0, 0, 0, 0};
  CHECK_FALSE(s.reconfigure(bad, err));
  CHECK(err.find("background") != std::string::npos);
  CHECK(s.config().queues.size() == 4);
}

TEST_CASE("scheduler: deadline misses are counted at start") {
  auto c = cfg3();
  c.queues[0].workers = 1;
  scheduler s(c);
  for (int i = 0; i < 3; ++i) s.submit(msg(message_kind::snapshot, key_of("g", i), i), t0);
  auto a = s.next(t0);
  REQUIRE(a);
  CHECK_FALSE(s.next(t0 + 600ms));  // the only slot is taken
  s.complete(a->queue, a->key);
  auto b = s.next(t0 + 600ms);
  REQUIRE(b);
  s.complete(b->queue, b->key);
  auto d = s.next(t0 + 500ms);  // exactly at the deadline is on time
  REQUIRE(d);
  CHECK(s.stats(0).deadline_misses == 1);
  CHECK(s.stats(0).started == 3);
}

TEST_CASE("scheduler: drop_all returns the queued messages in accept order") {
  scheduler s(cfg3());
  for (int i = 0; i < 6; ++i) s.submit(msg(i % 2 ? message_kind::memory_sync : message_kind::npc_reply, "k", i), t0);
  auto running = s.next(t0);
  REQUIRE(running);
  auto rest = s.drop_all();
  REQUIRE(rest.size() == 5);
  for (int i = 0; i < 5; ++i) CHECK(payload_of(rest[static_cast<std::size_t>(i)]) == i + 1);
  CHECK(s.queued() == 0);
  s.complete(running->queue, running->key);
  CHECK(s.key_count() == 0);
}

TEST_CASE("scheduler: an invalid config is refused at construction") {
  auto c = queues_config::defaults();
  c.queues[1].workers = 0;
  CHECK_THROWS_AS(scheduler{c}, std::invalid_argument);
}

TEST_CASE("scheduler: one key's deep backlog keeps accept order through late stamps, sheds and starts") {
  // One hot key with hundreds waiting: messages stamped in one order and handed over in
  // another (the dispatcher's producer threads), the queue shedding its oldest, and starts one
  // at a time. A sorted list of the key's waiting seqs is the reference.
  auto c = cfg3();
  c.queues[2].capacity = 150;  // background, shed_oldest
  scheduler s(c);
  std::mt19937 rng(7);
  std::set<std::uint64_t> waiting;  // the key's queued seqs, the reference
  std::vector<std::uint64_t> started, expected;
  std::vector<message> stamped;
  auto push_one = [&] {
    const auto seq = stamped.back().accept_seq;
    auto r = s.push(std::move(stamped.back()));
    stamped.pop_back();
    waiting.insert(seq);
    if (r.status == push_status::shed) {
      REQUIRE(r.dropped);
      CHECK(r.dropped->accept_seq == *waiting.begin());  // the oldest queued goes
      waiting.erase(r.dropped->accept_seq);
    }
  };
  int n = 0;
  for (int round = 0; round < 400; ++round) {
    for (int i = 0; i < 3; ++i) {
      auto m = msg(message_kind::memory_sync, "hot", n++);
      s.stamp(m, t0);
      stamped.push_back(std::move(m));
    }
    std::shuffle(stamped.begin(), stamped.end(), rng);  // handed over out of stamp order
    while (stamped.size() > 1) push_one();
    if (round % 2 == 0)
      if (auto m = s.next(t0)) {
        expected.push_back(*waiting.begin());
        waiting.erase(waiting.begin());
        started.push_back(m->accept_seq);
        s.complete(m->queue, m->key);
      }
  }
  while (!stamped.empty()) push_one();
  while (auto m = s.next(t0)) {
    expected.push_back(*waiting.begin());
    waiting.erase(waiting.begin());
    started.push_back(m->accept_seq);
    s.complete(m->queue, m->key);
  }
  CHECK(waiting.empty());
  CHECK(started.size() > 300);
  CHECK(started == expected);
  CHECK(s.key_count() == 0);
  CHECK(s.stats(2).shed > 500);
}
