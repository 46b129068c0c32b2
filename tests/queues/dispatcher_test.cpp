// Dispatcher tests with a real io_context and producer threads. They wait on completion
// (drain callbacks, futures), never on elapsed time.
#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "queues/dispatcher.hpp"
#include "tests/io_threads.hpp"

using namespace orch::queues;
using namespace std::chrono_literals;

using orch::testing::io_threads;

namespace {

// "prefix" + number without GCC 12's -Wrestrict false positive on operator+ at -O2.
std::string key_of(const char* prefix, std::size_t n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

message msg(message_kind k, std::string key, int payload, bool coalesce = false) {
  message m;
  m.kind = k;
  m.key = std::move(key);
  m.coalesce = coalesce;
  m.payload = std::make_shared<int>(payload);
  return m;
}
int payload_of(const message& m) { return *m.payload.as<int>(); }

bool drain_and_wait(dispatcher& d, std::chrono::milliseconds timeout) {
  std::promise<bool> p;
  auto f = p.get_future();
  d.drain(timeout, [&p](bool ok) { p.set_value(ok); });
  return f.get();
}

// Defaults with room for a whole test's traffic, so nothing is shed.
queues_config roomy() {
  auto c = queues_config::defaults();
  for (auto& q : c.queues) q.capacity = 100000;
  return c;
}

const message_kind all_kinds[] = {message_kind::snapshot, message_kind::chat_turn, message_kind::npc_reply,
                                  message_kind::system_notice, message_kind::memory_sync};

}  // namespace

TEST_CASE("dispatcher: every accepted message is handled exactly once") {
  orch::policies::steady_clock clock;
  orch::metrics::registry reg;
  io_threads io(2, io_threads::at_end::finish);
  dispatcher d(io.io, roomy(), clock, reg);
  std::mutex mu;
  std::map<int, int> handled;
  for (auto k : all_kinds)
    d.set_handler(k, [&](message m, completion c) {
      {
        std::lock_guard lk(mu);
        ++handled[payload_of(m)];
      }
      c.done();
    });
  d.start();
  std::atomic<int> accepted{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p)
    producers.emplace_back([&, p] {
      for (int i = 0; i < 5000; ++i) {
        const int id = p * 100000 + i;
        auto r = d.submit(msg(all_kinds[i % 5], key_of("k", i % 97), id));
        if (r.status == submit_status::accepted) ++accepted;
      }
    });
  for (auto& t : producers) t.join();
  CHECK(drain_and_wait(d, 20s));
  CHECK(accepted.load() == 20000);
  CHECK(handled.size() == 20000);
  bool once = true;
  for (auto& [id, n] : handled) once = once && n == 1;
  CHECK(once);
  CHECK(reg.value("npcorch_queue_accepted_total", {{"queue", "urgent"}}) == 8000);
  CHECK(reg.value("npcorch_queue_depth", {{"queue", "urgent"}}) == 0);
  CHECK(reg.value("npcorch_queue_in_flight", {{"queue", "conversation"}}) == 0);
  CHECK(reg.value("npcorch_queue_workers", {{"queue", "urgent"}}) == 5);
  CHECK(reg.value("npcorch_queue_capacity", {{"queue", "background"}}) == 100000);
  CHECK(reg.value("npcorch_queue_shed_total", {{"queue", "conversation"}}) == 0);
  CHECK(reg.render().find("npcorch_queue_wait_seconds_count{queue=\"urgent\"} 8000") != std::string::npos);
}

TEST_CASE("dispatcher: per-key order holds for one producer while others flood") {
  orch::policies::steady_clock clock;
  orch::metrics::registry reg;
  io_threads io(3, io_threads::at_end::finish);
  dispatcher d(io.io, roomy(), clock, reg);
  std::atomic<int> k_running{0};
  std::atomic<int> overlap{0};
  std::mutex mu;
  std::vector<int> order;
  d.set_handler(message_kind::chat_turn, [&](message m, completion c) {
    if (m.key != "K") return;  // completes on return
    if (k_running.fetch_add(1) != 0) ++overlap;
    {
      std::lock_guard lk(mu);
      order.push_back(payload_of(m));
    }
    // Finish asynchronously: the slot stays taken, no thread waits.
    boost::asio::post(io.io, [&, c = std::move(c)]() mutable {
      k_running.fetch_sub(1);
      c.done();
    });
  });
  d.set_handler(message_kind::snapshot, [](message, completion) {});
  d.start();
  std::vector<std::thread> flooders;
  for (int p = 0; p < 3; ++p)
    flooders.emplace_back([&, p] {
      for (int i = 0; i < 5000; ++i) d.submit(msg(message_kind::snapshot, key_of("f", p * 7 + i % 7), i));
    });
  int sent = 0;
  for (int i = 0; i < 2000; ++i)
    if (d.submit(msg(message_kind::chat_turn, "K", i)).status == submit_status::accepted) ++sent;
  for (auto& t : flooders) t.join();
  CHECK(drain_and_wait(d, 20s));
  CHECK(sent == 2000);
  CHECK(overlap.load() == 0);
  REQUIRE(order.size() == 2000);
  bool in_order = true;
  for (std::size_t i = 0; i < order.size(); ++i) in_order = in_order && order[i] == static_cast<int>(i);
  CHECK(in_order);
}

TEST_CASE("dispatcher: reload under load loses nothing") {
  orch::policies::steady_clock clock;
  orch::metrics::registry reg;
  io_threads io(2, io_threads::at_end::finish);
  dispatcher d(io.io, roomy(), clock, reg);
  std::atomic<int> handled{0};
  std::mutex mu;
  std::map<std::size_t, int> by_queue;
  for (auto k : all_kinds)
    d.set_handler(k, [&](message m, completion c) {
      ++handled;
      std::lock_guard lk(mu);
      ++by_queue[m.queue];
      c.done();
    });
  d.start();
  std::atomic<int> accepted{0};
  std::atomic<int> reloads_done{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < 3; ++p)
    producers.emplace_back([&, p] {
      for (int i = 0; i < 4000; ++i) {
        while (reloads_done.load() < i / 400) std::this_thread::yield();  // interleave with reloads
        if (d.submit(msg(all_kinds[i % 5], key_of("k", (p * 31 + i) % 50), i)).status == submit_status::accepted)
          ++accepted;
      }
    });
  std::string err;
  for (int r = 0; r < 30; ++r) {
    auto c = roomy();
    c.queues[0].workers = 1 + static_cast<std::uint32_t>(r % 4);
    c.queues[1].max_latency = std::chrono::milliseconds(100 + r);
    c.queues[2].capacity = 100000 + static_cast<std::size_t>(r);
    if (r > 0) c.queues.push_back({"extra", 300ms, 2, 10000, overflow_policy::reject});
    if (r % 2) c.routes[static_cast<std::size_t>(message_kind::chat_turn)] = 3;
    const int before = accepted.load();
    CHECK(d.reload(c, err));  // not REQUIRE: the producers wait on reloads_done
    ++reloads_done;
    // Let some traffic through under each config before the next reload.
    while (accepted.load() < before + 50 && accepted.load() < 12000) std::this_thread::yield();
  }
  for (auto& t : producers) t.join();
  CHECK(drain_and_wait(d, 20s));
  CHECK(handled.load() == accepted.load());
  CHECK(accepted.load() == 12000);
  CHECK(by_queue[3] > 0);  // "extra", appended after the three defaults
  CHECK(reg.value("npcorch_dispatcher_reloads_total") == 30);
  CHECK(d.config().queues.size() == 4);  // the added queue stays (queues are never removed)
  // Removing a queue is refused and the old config kept.
  auto bad = roomy();
  bad.queues.pop_back();
  bad.routes = {0, 0, 1, 1, 1};
  CHECK_FALSE(d.reload(bad, err));
  CHECK_FALSE(err.empty());
  CHECK(d.config().queues.size() == 4);
  CHECK(reg.value("npcorch_dispatcher_reloads_total") == 30);
}

TEST_CASE("dispatcher: exact 429 with retry_after on a full reject queue") {
  orch::policies::manual_clock clock;
  orch::metrics::registry reg;
  boost::asio::io_context io;  // not run: messages stay in the inbox, counted against capacity
  auto c = queues_config::defaults();
  c.queues[0].capacity = 10;
  dispatcher d(io, c, clock, reg);
  for (int i = 0; i < 10; ++i)
    CHECK(d.submit(msg(message_kind::snapshot, key_of("g", i), i)).status == submit_status::accepted);
  auto r = d.submit(msg(message_kind::snapshot, "gx", 99));
  CHECK(r.status == submit_status::rejected);
  CHECK(r.queue_name == "urgent");
  // Nothing was served yet (mean service time 0): the floor of one second, exactly.
  CHECK(r.retry_after == 1s);
  CHECK(reg.value("npcorch_queue_rejected_total", {{"queue", "urgent"}}) == 1);
  CHECK(reg.value("npcorch_queue_accepted_total", {{"queue", "urgent"}}) == 10);
}

TEST_CASE("dispatcher: shed_oldest sheds to exact capacity and tells the drop handler") {
  orch::policies::manual_clock clock;
  orch::metrics::registry reg;
  boost::asio::io_context io;
  auto c = queues_config::defaults();
  c.queues[1].capacity = 5;
  c.queues[1].workers = 1;
  dispatcher d(io, c, clock, reg);
  std::vector<int> handled, shed;
  d.set_handler(message_kind::npc_reply, [&](message m, completion) { handled.push_back(payload_of(m)); });
  d.set_drop_handler(message_kind::npc_reply, [&](message m, drop_reason why) {
    CHECK(why == drop_reason::shed);
    shed.push_back(payload_of(m));
  });
  d.start();
  for (int i = 0; i < 10; ++i)
    CHECK(d.submit(msg(message_kind::npc_reply, key_of("a", i), i)).status == submit_status::accepted);
  // The inbox is bounded at twice the capacity even for shed_oldest queues.
  CHECK(d.submit(msg(message_kind::npc_reply, "ax", 10)).status == submit_status::rejected);
  io.run();
  CHECK(shed == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(handled == std::vector<int>{5, 6, 7, 8, 9});
  CHECK(reg.value("npcorch_queue_shed_total", {{"queue", "conversation"}}) == 5);
  CHECK(reg.value("npcorch_queue_depth", {{"queue", "conversation"}}) == 0);
}

TEST_CASE("dispatcher: coalescing through the dispatcher keeps the newest payload") {
  orch::policies::manual_clock clock;
  orch::metrics::registry reg;
  boost::asio::io_context io;
  dispatcher d(io, queues_config::defaults(), clock, reg);
  std::vector<int> handled;
  int coalesced = 0;
  d.set_handler(message_kind::snapshot, [&](message m, completion) { handled.push_back(payload_of(m)); });
  d.set_drop_handler(message_kind::snapshot, [&](message, drop_reason why) {
    if (why == drop_reason::coalesced) ++coalesced;
  });
  d.start();
  for (int i = 0; i < 5; ++i) d.submit(msg(message_kind::snapshot, "game", i, true));
  io.run();
  CHECK(handled == std::vector<int>{4});
  CHECK(coalesced == 4);
  CHECK(reg.value("npcorch_queue_coalesced_total", {{"queue", "urgent"}}) == 4);
  // The gate gave the coalesced places back: the queue can take a full capacity again.
  CHECK(d.depth(0) == 0);
}

TEST_CASE("dispatcher: deadline misses and wait histogram use the injected clock") {
  orch::policies::manual_clock clock;
  orch::metrics::registry reg;
  boost::asio::io_context io;
  auto c = queues_config::defaults();
  c.queues[0].workers = 1;
  dispatcher d(io, c, clock, reg);
  std::vector<completion> held;
  d.set_handler(message_kind::snapshot, [&](message, completion comp) { held.push_back(std::move(comp)); });
  d.start();
  d.submit(msg(message_kind::snapshot, "g1", 1));
  d.submit(msg(message_kind::snapshot, "g2", 2));
  io.run();
  io.restart();
  REQUIRE(held.size() == 1);
  CHECK(d.in_flight(0) == 1);
  CHECK(d.depth(0) == 1);
  clock.advance(700ms);
  held[0].done();
  io.run();
  io.restart();
  CHECK(held.size() == 2);
  CHECK(reg.value("npcorch_queue_deadline_misses_total", {{"queue", "urgent"}}) == 1);
  auto text = reg.render();
  CHECK(text.find("npcorch_queue_wait_seconds_bucket{queue=\"urgent\",le=\"0.5\"} 1") != std::string::npos);
  CHECK(text.find("npcorch_queue_wait_seconds_bucket{queue=\"urgent\",le=\"1\"} 2") != std::string::npos);
}

TEST_CASE("dispatcher: drain completes when idle, else drops the rest at the timeout") {
  orch::policies::manual_clock clock;
  manual_timer_service timers;
  orch::metrics::registry reg;
  boost::asio::io_context io;
  auto c = queues_config::defaults();
  c.queues[1].workers = 1;
  dispatcher d(io, c, clock, timers, reg);
  std::vector<completion> held;
  std::vector<int> dropped;
  d.set_handler(message_kind::npc_reply, [&](message, completion comp) { held.push_back(std::move(comp)); });
  d.set_drop_handler(message_kind::npc_reply, [&](message m, drop_reason why) {
    CHECK(why == drop_reason::shutdown);
    dropped.push_back(payload_of(m));
  });
  d.start();
  for (int i = 0; i < 4; ++i) d.submit(msg(message_kind::npc_reply, key_of("a", i), i));
  d.stop_accepting();
  CHECK(d.submit(msg(message_kind::npc_reply, "late", 9)).status == submit_status::stopped);
  int result = -1;
  d.drain(20ms, [&](bool ok) { result = ok ? 1 : 0; });
  io.run();  // the held slot never completes; the drain waits for its timeout
  io.restart();
  CHECK(result == -1);
  CHECK(timers.pending() == 1);
  clock.advance(19ms);
  CHECK(timers.fire_due(clock.now()) == 0);  // not yet due
  clock.advance(1ms);
  CHECK(timers.fire_due(clock.now()) == 1);
  io.run();  // the timeout hops onto the strand: the rest is dropped
  io.restart();
  CHECK(result == 0);
  CHECK(held.size() == 1);
  CHECK(dropped == std::vector<int>{1, 2, 3});
  CHECK(reg.value("npcorch_queue_dropped_total", {{"queue", "conversation"}, {"reason", "shutdown"}}) == 3);
  // Once the in-flight one completes, a second drain succeeds at once and withdraws its timer.
  held[0].done();
  result = -1;
  d.drain(30s, [&](bool ok) { result = ok ? 1 : 0; });
  io.run();
  CHECK(result == 1);
  CHECK(timers.pending() == 0);
}

TEST_CASE("dispatcher: a replaced or completed drain withdraws its timeout") {
  orch::policies::manual_clock clock;
  manual_timer_service timers;
  orch::metrics::registry reg;
  boost::asio::io_context io;
  auto c = queues_config::defaults();
  c.queues[1].workers = 1;
  dispatcher d(io, c, clock, timers, reg);
  std::vector<completion> held;
  int dropped = 0;
  d.set_handler(message_kind::npc_reply, [&](message, completion comp) { held.push_back(std::move(comp)); });
  d.set_drop_handler(message_kind::npc_reply, [&](message, drop_reason) { ++dropped; });
  d.start();
  d.submit(msg(message_kind::npc_reply, "a", 1));
  d.submit(msg(message_kind::npc_reply, "b", 2));
  d.stop_accepting();
  std::vector<int> results;
  d.drain(10ms, [&](bool ok) { results.push_back(ok ? 1 : 0); });
  d.drain(1s, [&](bool ok) { results.push_back(ok ? 1 : 0); });  // replaces the first
  io.run();
  io.restart();
  CHECK(results == std::vector<int>{0});  // the first drain was answered "not drained"
  CHECK(timers.pending() == 1);           // only the second drain's timeout is left
  clock.advance(10ms);
  CHECK(timers.fire_due(clock.now()) == 0);
  io.run();
  io.restart();
  CHECK(results == std::vector<int>{0});
  CHECK(dropped == 0);
  // The held message completes, then the queued one: the second drain succeeds.
  REQUIRE(held.size() == 1);
  held[0].done();
  io.run();
  io.restart();
  REQUIRE(held.size() == 2);
  held[1].done();
  io.run();
  io.restart();
  CHECK(results == std::vector<int>{0, 1});
  CHECK(timers.pending() == 0);
  clock.advance(1s);
  CHECK(timers.fire_due(clock.now()) == 0);
  CHECK(dropped == 0);
}

TEST_CASE("dispatcher: posted work and completions outliving the dispatcher are harmless") {
  orch::policies::manual_clock clock;
  orch::metrics::registry reg;
  boost::asio::io_context io;
  std::vector<completion> held;
  int calls = 0;
  {
    dispatcher d(io, queues_config::defaults(), clock, reg);
    d.set_handler(message_kind::snapshot, [&](message, completion c) {
      ++calls;
      held.push_back(std::move(c));
    });
    d.start();
    d.submit(msg(message_kind::snapshot, "g1", 1));
    io.run();
    io.restart();
    CHECK(calls == 1);
    d.submit(msg(message_kind::snapshot, "g2", 2));  // still in the inbox when d goes
  }
  io.run();  // the pending strand pass runs on the surviving core but calls no handler
  io.restart();
  CHECK(calls == 1);
  held.clear();  // a completion after the dispatcher is gone does nothing
  io.run();
  CHECK(reg.value("npcorch_queue_accepted_total", {{"queue", "urgent"}}) == 2);
}

TEST_CASE("dispatcher: a throwing handler is counted, frees its slot and the next message runs") {
  orch::policies::manual_clock clock;
  orch::metrics::registry reg;
  boost::asio::io_context io;
  auto c = queues_config::defaults();
  c.queues[0].workers = 1;
  dispatcher d(io, c, clock, reg);
  std::vector<int> handled;
  d.set_handler(message_kind::snapshot, [&](message m, completion) {
    if (payload_of(m) == 1) throw std::runtime_error("boom");
    handled.push_back(payload_of(m));
  });
  d.start();
  d.submit(msg(message_kind::snapshot, "g1", 1));
  d.submit(msg(message_kind::snapshot, "g2", 2));
  io.run();
  CHECK(handled == std::vector<int>{2});
  CHECK(reg.value("npcorch_dispatcher_handler_exceptions_total", {{"handler", "work"}}) == 1);
  CHECK(d.in_flight(0) == 0);
}
