// app_memory: the arena cap is accepted, the heap gauges follow live allocations, trims run on
// their period and are counted, and stop() leaves the io_context without work.
#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "daemon/app_memory.hpp"

using namespace orch;
using namespace orch::daemon;
using namespace std::chrono_literals;

namespace {
// Sanitizers replace malloc: mallinfo2() then reports glibc's own (unused) heap.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool glibc_malloc = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool glibc_malloc = false;
#else
constexpr bool glibc_malloc = true;
#endif
#else
constexpr bool glibc_malloc = true;
#endif
}  // namespace

TEST_CASE("app_memory: the arena cap is accepted - the gauges follow live allocations - a trim is counted") {
  memory_options cap;
  cap.arena_max = 4;  // this test process's allocator: harmless
  const bool capped = apply_allocator_settings(cap);
  if (glibc_malloc) CHECK(capped);  // a sanitizer's mallopt refuses everything
  boost::asio::io_context io;
  metrics::registry m;
  memory_options o;
  o.stats_interval = 0ms;
  heap_monitor h(io, o, m);
  h.sample_now(false);
  const double before = m.value("npcorch_heap_in_use_bytes");
  CHECK(before >= 0);
  auto blocks = std::make_unique<std::vector<std::unique_ptr<char[]>>>();
  for (int i = 0; i < 4096; ++i) blocks->push_back(std::make_unique<char[]>(2048));  // 8 MiB, small chunks
  h.sample_now(false);
  if (glibc_malloc) CHECK(m.value("npcorch_heap_in_use_bytes") >= before + 8.0 * 1024 * 1024);
  blocks.reset();
  h.sample_now(false);
  if (glibc_malloc) CHECK(m.value("npcorch_heap_in_use_bytes") < before + 4.0 * 1024 * 1024);
  CHECK(m.value("npcorch_malloc_trims_total") <= 0);
  h.sample_now(true);
  CHECK(m.value("npcorch_malloc_trims_total") == 1);
  CHECK(m.render().find("npcorch_malloc_trim_seconds_count 1\n") != std::string::npos);
}

TEST_CASE("app_memory: samples and trims run on their periods until stop()") {
  boost::asio::io_context io;
  metrics::registry m;
  memory_options o;
  o.stats_interval = 1ms;
  o.trim_interval = 2ms;
  heap_monitor h(io, o, m);
  h.start();
  while (m.value("npcorch_malloc_trims_total") < 3) io.run_one();
  h.stop();
  io.run_for(10s);  // returns at once when no timer is left
  CHECK(io.stopped());
}
