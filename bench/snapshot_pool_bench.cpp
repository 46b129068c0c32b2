// Snapshot pool bench (issue 11): CPU per snapshot of the snapshot route's parse-to-drop cycle on
// a walking-bench body (100 entities, 20 clusters, ~30 KB), with a fresh snapshot per body
// (parse_snapshot, then make_shared: the route before the pool) and with snapshot_pool::parse.
// Two set-ups: one thread parses and a second one drops what it parsed (as the snapshot worker
// does), through a bounded hand-off of 64 (its wake-ups cost CPU too: noisy); and one thread
// that parses and drops the snapshot parsed 64 bodies earlier (no hand-off: the parse-to-drop
// cost alone, but freed on the thread that allocated). Alternates fresh and pooled, rounds of
// 100 000 snapshots; prints each round's process CPU-us per snapshot. Figures only, never
// passes or fails.
#include <time.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "daemon/json_codec.hpp"
#include "daemon/snapshot_pool.hpp"

using orch::workers::snapshot;

namespace {

std::string body(int g, int variant) {
  static const char* registry[] = {"Pete",    "Kaiden", "Goldie", "Oscar", "Noobster", "Marisol",
                                   "Bramble", "Ivy",    "Rex",    "Luna",  "Hank",     "Tilly"};
  std::string names[100];
  for (int i = 1; i <= 100; ++i)
    names[i - 1] = i <= 12 ? registry[i - 1] : (i <= 50 ? "Villager" : "Player") + std::to_string(i);
  std::string clusters, parts;
  char buf[1024];
  for (int grp = 0; grp < 20; ++grp) {
    std::string list;
    for (int j = 1; j <= 5; ++j) list += (j > 1 ? ",\"" : "\"") + names[grp * 5 + j - 1] + "\"";
    clusters += (grp ? "," : "") + std::string("{\"members\":[") + list + "],\"npcs\":3,\"players\":2}";
    for (int j = 1; j <= 5; ++j) {
      const int i = grp * 5 + j;
      const double x = (grp % 5) * 30.0 - 60.0 + (j - 3) + 1.5 * variant, z = (grp / 5) * 30.0 - 45.0 + (j % 2);
      const bool npc = i <= 50;
      std::snprintf(buf, sizeof buf,
                    "\"%s\":{\"relationships\":[],\"currentGroups\":{\"members\":[%s],\"npcs\":3,\"players\":2},"
                    "\"recentInteractions\":[{\"timestamp\":1737874917,\"narrative\":\"Standing\"}],"
                    "\"lastSeen\":1737874916,\"position\":{\"x\":%.3f,\"y\":3.000,\"z\":%.3f},"
                    "\"location\":\"Unknown Area\",\"kind\":\"%s\",\"id\":%s%d%s,"
                    "\"health\":{\"state\":\"Running\",\"current\":80,\"max\":100,\"velocity\":%d,\"isMoving\":%s}}",
                    names[i - 1].c_str(), list.c_str(), x, z, npc ? "npc" : "player", npc ? "\"npc-" : "",
                    npc ? i : 1000000 + g * 100 + i, npc ? "\"" : "", variant, variant ? "true" : "false");
      parts += (parts.empty() ? "" : ",") + std::string(buf);
    }
  }
  return "{\"gameId\":\"bench-" + std::to_string(g) + "\",\"timestamp\":1737874917,\"events\":[],\"clusters\":[" +
         clusters + "],\"humanContext\":{" + parts + "}}";
}

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// One round: `make` parses body i into a shared snapshot; a second thread drops them.
template <class Make>
double round_us(const std::vector<std::string>& bodies, int n, Make make) {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<const snapshot>> q;
  bool done = false;
  std::thread dropper([&] {
    std::size_t seen = 0;
    for (;;) {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return !q.empty() || done; });
      if (q.empty()) break;
      auto s = std::move(q.front());
      q.pop_front();
      lk.unlock();
      cv.notify_all();
      seen += s->entities.size();
      s.reset();  // the last reference: freed (or back to the pool) on this thread
    }
    if (seen == 0) std::puts("nothing parsed");
  });
  const double t0 = cpu_seconds();
  for (int i = 0; i < n; ++i) {
    auto s = make(bodies[static_cast<std::size_t>(i) % bodies.size()]);
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return q.size() < 64; });
    q.push_back(std::move(s));
    lk.unlock();
    cv.notify_all();
  }
  {
    std::lock_guard lk(mu);
    done = true;
  }
  cv.notify_all();
  dropper.join();
  return (cpu_seconds() - t0) * 1e6 / n;
}

// One thread: parse, keep the last 64, drop the oldest.
template <class Make>
double ring_us(const std::vector<std::string>& bodies, int n, Make make) {
  std::vector<std::shared_ptr<const snapshot>> ring(64);
  std::size_t seen = 0;
  const double t0 = cpu_seconds();
  for (int i = 0; i < n; ++i) {
    auto& slot = ring[static_cast<std::size_t>(i) % ring.size()];
    if (slot) seen += slot->entities.size();
    slot = make(bodies[static_cast<std::size_t>(i) % bodies.size()]);
  }
  const double us = (cpu_seconds() - t0) * 1e6 / n;
  if (seen == 0) std::puts("nothing parsed");
  return us;
}

}  // namespace

int main() {
  std::vector<std::string> bodies;
  for (int v = 0; v < 3; ++v)
    for (int g = 1; g <= 64; ++g) bodies.push_back(body(g, v));
  std::printf("body %zu bytes, %zu bodies\n", bodies[0].size(), bodies.size());
  orch::daemon::snapshot_pool pool;
  auto fresh = [](const std::string& b) {
    auto p = orch::daemon::parse_snapshot(b, "");
    return std::make_shared<const snapshot>(std::move(std::get<snapshot>(p)));
  };
  auto pooled = [&](const std::string& b) {
    auto p = pool.parse(b, "");
    return std::shared_ptr<const snapshot>(std::move(std::get<std::shared_ptr<snapshot>>(p)));
  };
  const int n = 100000;
  round_us(bodies, n / 10, fresh);  // warm-up
  round_us(bodies, n / 10, pooled);
  double sf = 0, sp = 0, rf = 0, rp = 0;
  const int rounds = 5;
  for (int r = 0; r < rounds; ++r) {
    const double f = round_us(bodies, n, fresh);
    const double p = round_us(bodies, n, pooled);
    const double f1 = ring_us(bodies, n, fresh);
    const double p1 = ring_us(bodies, n, pooled);
    sf += f;
    sp += p;
    rf += f1;
    rp += p1;
    std::printf("round %d: two threads: fresh %.2f us  pooled %.2f us | one thread: fresh %.2f us  pooled %.2f us\n",
                r + 1, f, p, f1, p1);
  }
  std::printf("mean one thread: fresh %.2f us  pooled %.2f us\n", rf / rounds, rp / rounds);
  const auto c = pool.stats();
  std::printf("mean two threads: fresh %.2f us  pooled %.2f us  (pool: %llu reused, %llu made, %llu deleted)\n",
              sf / rounds, sp / rounds, static_cast<unsigned long long>(c.reused),
              static_cast<unsigned long long>(c.made), static_cast<unsigned long long>(c.deleted));
}
