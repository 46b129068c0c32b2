// daemon/snapshot_pool: bounded (never keeps more than its N, nor a snapshot too big to keep),
// and a snapshot comes back for a refill only after its last holder let go — also when that
// holder reads it on another thread.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "daemon/snapshot_pool.hpp"
#include "tests/eventually.hpp"

using namespace orch::daemon;
using orch::workers::snapshot;

namespace {

// Entity i of snapshot k: its x and its id tell which snapshot filled it.
double walker_x(int i, std::uint64_t k) { return static_cast<double>(k) * 10.0 + i; }
std::string walker_id(int i, std::uint64_t k) { return "walker-id-long-enough-" + std::to_string(k * 100 + i); }

std::string walk_body(std::uint64_t k) {
  std::string o =
      R"({"gameId":"g1","timestamp":)" + std::to_string(k) + R"(,"events":[],"clusters":[],"humanContext":{)";
  for (int i = 0; i < 8; ++i) {
    o += i ? "," : "";
    o += "\"E" + std::to_string(i) + "\":{\"kind\":\"npc\",\"id\":\"" + walker_id(i, k) +
         "\",\"position\":{\"x\":" + std::to_string(walker_x(i, k)) + ",\"y\":0,\"z\":0}}";
  }
  return o + "}}";
}

}  // namespace

TEST_CASE("snapshot_pool: keeps at most N snapshots; the others are deleted when dropped") {
  snapshot_pool pool(4);
  std::vector<std::shared_ptr<snapshot>> held;
  std::set<snapshot*> seen;
  for (int i = 0; i < 10; ++i) {
    held.push_back(pool.take());
    seen.insert(held.back().get());
  }
  CHECK(seen.size() == 10);  // all held at once: ten objects
  CHECK(pool.stats().made == 10);
  held.clear();
  auto c = pool.stats();
  CHECK(c.kept == 4);
  CHECK(c.deleted == 6);
  for (int i = 0; i < 4; ++i) {
    held.push_back(pool.take());
    CHECK(seen.count(held.back().get()) == 1);  // kept ones come back first
  }
  held.push_back(pool.take());
  c = pool.stats();
  CHECK(c.reused == 4);
  CHECK(c.made == 11);
  CHECK(c.kept == 0);
}

TEST_CASE("snapshot_pool: a snapshot holding more than max_kept_bytes is deleted, not kept") {
  snapshot_pool pool(4);
  auto s = pool.take();
  s->entities.resize(snapshot_pool::max_kept_bytes / sizeof(orch::workers::snapshot_entity) + 1);
  CHECK(snapshot_pool::heap_bytes(*s) > snapshot_pool::max_kept_bytes);
  s.reset();
  CHECK(pool.stats().kept == 0);
  CHECK(pool.stats().deleted == 1);
  auto small = pool.take();
  small->entities.resize(100);
  small->entities[0].appearance = std::string(500, 'a');
  CHECK(snapshot_pool::heap_bytes(*small) < snapshot_pool::max_kept_bytes);
  CHECK(snapshot_pool::heap_bytes(*small) > 100 * sizeof(orch::workers::snapshot_entity) + 500);
  small.reset();
  CHECK(pool.stats().kept == 1);
  // Parsed by the pool (which measures the snapshot right after the fill): the same rule.
  std::string big = R"({"timestamp":1,"events":[],"clusters":[],"humanContext":{)";
  for (int i = 0; i < 300; ++i)
    big += (i ? ",\"E" : "\"E") + std::to_string(i) + "\":{\"appearance\":\"" + std::string(1000, 'a') + "\"}";
  big += "}}";
  auto p = pool.parse(big, "");
  REQUIRE(std::holds_alternative<std::shared_ptr<snapshot>>(p));
  CHECK(pool.stats().reused == 1);  // it refilled the kept one
  p = codec_error{};
  CHECK(pool.stats().kept == 0);
  CHECK(pool.stats().deleted == 2);
  p = pool.parse(walk_body(1), "");
  REQUIRE(std::holds_alternative<std::shared_ptr<snapshot>>(p));
  p = codec_error{};
  CHECK(pool.stats().kept == 1);
}

TEST_CASE("snapshot_pool: a snapshot is refilled only after its last holder let go") {
  snapshot_pool pool(4);
  auto a = pool.take();
  snapshot* const first = a.get();
  auto holder = a;  // e.g. the queue, or a worker still applying it
  a.reset();
  auto b = pool.take();
  CHECK(b.get() != first);  // still held: not handed out again
  CHECK(pool.stats().reused == 0);
  holder.reset();  // the last holder lets go
  auto c = pool.take();
  CHECK(c.get() == first);
  CHECK(pool.stats().reused == 1);
  // The pool may go before its snapshots (a router torn down while a snapshot sits in a queue).
  auto late = std::make_unique<snapshot_pool>(2);
  auto kept = late->take();
  late.reset();
  kept->game_id = "still usable";
  kept.reset();
}

TEST_CASE("snapshot_pool: a snapshot read on another thread is never refilled under the reader") {
  snapshot_pool pool(2);  // few spares: every object goes round many times
  std::mutex mu;
  std::shared_ptr<const snapshot> published;
  std::atomic<bool> done{false};
  std::atomic<std::size_t> reads{0}, torn{0};
  auto reader = [&] {
    while (!done.load()) {
      std::shared_ptr<const snapshot> s;
      {
        std::lock_guard lk(mu);
        s = published;
      }
      if (!s) continue;
      // Read it twice over: a refill between the reads would change what the second one sees.
      for (int pass = 0; pass < 2; ++pass) {
        const auto k = static_cast<std::uint64_t>(s->timestamp);
        if (s->entities.size() != 8) {
          ++torn;
          continue;
        }
        for (int i = 0; i < 8; ++i) {
          const auto& e = s->entities[static_cast<std::size_t>(i)];
          if (!e.position || e.position->x != walker_x(i, k) || e.id != walker_id(i, k)) ++torn;
        }
      }
      ++reads;
    }
  };
  std::thread t1(reader), t2(reader);
  for (std::uint64_t k = 1; k <= 300; ++k) {
    auto p = pool.parse(walk_body(k), "");
    REQUIRE(std::holds_alternative<std::shared_ptr<snapshot>>(p));
    std::shared_ptr<const snapshot> s = std::move(std::get<std::shared_ptr<snapshot>>(p));
    {
      std::lock_guard lk(mu);
      published = std::move(s);  // the previous one goes back when the readers drop it
    }
    if (k % 30 == 0) {  // the readers keep up now and then (they may start late on a busy machine)
      const auto before = reads.load();
      REQUIRE(orch::testing::eventually([&] { return reads.load() > before + 2; }));
    }
  }
  done = true;
  t1.join();
  t2.join();
  CHECK(torn.load() == 0);
  CHECK(pool.stats().reused > 0);
  CHECK(pool.stats().kept <= 2);
}
