// Dispatcher benchmark: prints figures, never fails on time (DESIGN section 9).
//  1. throughput: messages/s through submit -> handler -> complete with trivial handlers,
//     several producer threads, two io threads;
//  2. mixed load: `conversation` flooded 10x past its capacity (handlers hold their slot for
//     a few ms, like a Letta call, without holding a thread) while `urgent` gets a steady
//     stream; prints wait p50/p99 per queue and the urgent p99 in ms.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/percentile.hpp"
#include "queues/dispatcher.hpp"
#include "tests/io_threads.hpp"

using namespace orch::queues;
using namespace std::chrono_literals;
using bench_clock = std::chrono::steady_clock;

using orch::testing::io_threads;

namespace {

// "prefix" + number without GCC 12's -Wrestrict false positive on operator+ at -O2.
std::string key_of(const char* prefix, std::size_t n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

bool drain_and_wait(dispatcher& d, std::chrono::milliseconds timeout) {
  std::promise<bool> p;
  auto f = p.get_future();
  d.drain(timeout, [&p](bool ok) { p.set_value(ok); });
  return f.get();
}

message make(message_kind k, std::string key) {
  message m;
  m.kind = k;
  m.key = std::move(key);
  return m;
}

double percentile_ms(std::vector<double>& v, double q) {
  std::sort(v.begin(), v.end());
  return orch::common::nearest_rank(v, q).value_or(0) * 1000.0;
}

void throughput() {
  constexpr int producers = 4;
  constexpr int per_producer = 50000;
  orch::policies::steady_clock clock;
  orch::metrics::registry reg;
  io_threads io(2, io_threads::at_end::finish);
  auto cfg = queues_config::defaults();
  cfg.queues[0].capacity = 1'000'000;
  cfg.queues[0].workers = 64;
  dispatcher d(io.io, cfg, clock, reg);
  std::atomic<std::uint64_t> handled{0};
  auto h = [&](message, completion c) {
    handled.fetch_add(1, std::memory_order_relaxed);
    c.done();
  };
  d.set_handler(message_kind::snapshot, h);
  d.set_handler(message_kind::chat_turn, h);
  d.start();
  const auto t0 = bench_clock::now();
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> rejected{0};
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        auto r = d.submit(
            make(i % 2 ? message_kind::snapshot : message_kind::chat_turn, key_of("k", (p * per_producer + i) % 1000)));
        if (r.status != submit_status::accepted) rejected.fetch_add(1);
      }
    });
  for (auto& t : threads) t.join();
  const auto t_submit = bench_clock::now();
  const bool ok = drain_and_wait(d, 60s);
  const auto t1 = bench_clock::now();
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  const double submit_secs = std::chrono::duration<double>(t_submit - t0).count();
  std::printf(
      "throughput: %llu messages handled in %.3f s = %.0f msg/s end to end "
      "(%d producers, 2 io threads, 1000 keys; submit side %.0f msg/s; rejected %llu; drained %s)\n",
      static_cast<unsigned long long>(handled.load()), secs, static_cast<double>(handled.load()) / secs, producers,
      static_cast<double>(producers * per_producer) / submit_secs, static_cast<unsigned long long>(rejected.load()),
      ok ? "yes" : "no");
}

void mixed() {
  orch::policies::steady_clock clock;
  orch::metrics::registry reg;
  io_threads io(2, io_threads::at_end::finish);
  const auto cfg = queues_config::defaults();  // urgent 500 ms / 5 / 10000; conversation 2000 ms / 3 / 5000
  dispatcher d(io.io, cfg, clock, reg);
  std::mutex mu;
  std::vector<double> waits[3];
  auto record = [&](const message& m) {
    const double w = std::chrono::duration<double>(clock.now() - m.arrival).count();
    std::lock_guard lk(mu);
    waits[m.queue].push_back(w);
  };
  d.set_handler(message_kind::snapshot, [&](message m, completion c) {
    record(m);
    c.done();
  });
  // A conversation slot stays taken for 2 ms (a stand-in for a Letta call): no thread waits.
  d.set_handler(message_kind::npc_reply, [&](message m, completion c) {
    record(m);
    auto t = std::make_shared<boost::asio::steady_timer>(io.io, 2ms);
    t->async_wait([t, c = std::make_shared<completion>(std::move(c))](const boost::system::error_code&) { c->done(); });
  });
  std::atomic<std::uint64_t> shed_dropped{0};
  d.set_drop_handler(message_kind::npc_reply, [&](message, drop_reason) { shed_dropped.fetch_add(1); });
  d.start();

  const std::size_t flood_total = cfg.queues[1].capacity * 10;  // 10x past capacity
  std::atomic<std::uint64_t> flood_rejected{0}, flood_accepted{0};
  const auto start = bench_clock::now();
  std::vector<std::thread> flooders;
  for (int p = 0; p < 3; ++p)
    flooders.emplace_back([&, p] {
      // Bursts every 100 ms across the urgent stream's 3 s, so both run at once.
      const std::size_t mine = flood_total / 3, chunk = mine / 30;
      for (std::size_t i = 0; i < mine; ++i) {
        auto r = d.submit(make(message_kind::npc_reply, key_of("agent", (p * mine + i) % 500)));
        (r.status == submit_status::accepted ? flood_accepted : flood_rejected).fetch_add(1);
        if (i % chunk == chunk - 1) std::this_thread::sleep_until(start + (i / chunk + 1) * 100ms);
      }
    });
  std::uint64_t urgent_sent = 0, urgent_rejected = 0;
  for (int tick = 0; tick < 300; ++tick) {  // 3 s at 10 ms per tick, 20 snapshots per tick
    for (int i = 0; i < 20; ++i) {
      auto r = d.submit(make(message_kind::snapshot, key_of("game", i)));
      ++urgent_sent;
      if (r.status != submit_status::accepted) ++urgent_rejected;
    }
    std::this_thread::sleep_until(start + (tick + 1) * 10ms);
  }
  for (auto& t : flooders) t.join();
  drain_and_wait(d, 30s);

  std::printf(
      "mixed: conversation flooded with %zu messages (capacity %zu, 3 workers x 2 ms), "
      "urgent %llu snapshots at 2000/s\n",
      flood_total, cfg.queues[1].capacity, static_cast<unsigned long long>(urgent_sent));
  for (std::size_t q = 0; q < 2; ++q) {
    auto& v = waits[q];
    const std::size_t n = v.size();
    const double p50 = percentile_ms(v, 0.50), p99 = percentile_ms(v, 0.99), mx = v.empty() ? 0 : v.back() * 1000;
    std::printf("  %-12s started %7zu  wait p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms  deadline misses %.0f\n",
                cfg.queues[q].name.c_str(), n, p50, p99, mx,
                reg.value("npcorch_queue_deadline_misses_total", {{"queue", cfg.queues[q].name}}));
  }
  std::printf("  conversation: accepted %llu, shed %.0f (drop handler heard %llu), rejected at the inbox bound %llu\n",
              static_cast<unsigned long long>(flood_accepted.load()),
              reg.value("npcorch_queue_shed_total", {{"queue", "conversation"}}),
              static_cast<unsigned long long>(shed_dropped.load()),
              static_cast<unsigned long long>(flood_rejected.load()));
  std::printf("  urgent rejected %llu\n", static_cast<unsigned long long>(urgent_rejected));
  std::vector<double> u = waits[0];
  std::printf("urgent wait p99: %.3f ms (target < 50 ms)\n", percentile_ms(u, 0.99));
}

}  // namespace

int main() {
  throughput();
  mixed();
  return 0;
}
