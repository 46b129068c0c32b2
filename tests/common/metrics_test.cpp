// common/metrics: the Prometheus registry every layer counts in. Lookup identity, the text
// exposition format (HELP/TYPE, label escaping, cumulative `le` buckets) and concurrent use.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.hpp"

using orch::metrics::histogram;
using orch::metrics::registry;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

}  // namespace

TEST_CASE("metrics: a name and label set is one metric; other labels are another") {
  registry r;
  auto& a = r.get_counter("npcorch_x_total", "X", {{"queue", "urgent"}});
  auto& b = r.get_counter("npcorch_x_total", "X", {{"queue", "urgent"}});
  auto& c = r.get_counter("npcorch_x_total", "X", {{"queue", "background"}});
  CHECK(&a == &b);
  CHECK(&a != &c);
  a.inc();
  b.inc(4);
  CHECK(r.value("npcorch_x_total", {{"queue", "urgent"}}) == 5);
  CHECK(r.value("npcorch_x_total", {{"queue", "background"}}) == 0);
  CHECK(r.value("npcorch_x_total", {{"queue", "nope"}}) == -1);
  CHECK(r.value("npcorch_absent", {}) == -1);
  CHECK_THROWS_AS(r.get_gauge("npcorch_x_total", "X as a gauge"), std::logic_error);
}

TEST_CASE("metrics: render writes HELP and TYPE per family, escapes label values, sorts families") {
  registry r;
  r.get_gauge("npcorch_b", "B gauge").set(2.5);
  r.get_counter("npcorch_a_total", "A counter", {{"who", "say \"hi\"\\\nbye"}}).inc(3);
  const std::string text = r.render();
  CHECK(has_line(text, "# HELP npcorch_a_total A counter"));
  CHECK(has_line(text, "# TYPE npcorch_a_total counter"));
  CHECK(has_line(text, R"(npcorch_a_total{who="say \"hi\"\\\nbye"} 3)"));
  CHECK(has_line(text, "# TYPE npcorch_b gauge"));
  CHECK(has_line(text, "npcorch_b 2.5"));
  CHECK(text.find("npcorch_a_total") < text.find("npcorch_b"));
}

TEST_CASE("metrics: histogram buckets are cumulative with `le` inclusive, +Inf counts everything") {
  registry r;
  auto& h = r.get_histogram("npcorch_wait_seconds", "Wait", {{"queue", "q"}}, {0.5, 0.1, 1});  // sorted on creation
  REQUIRE(h.bounds() == std::vector<double>{0.1, 0.5, 1});
  for (double v : {0.05, 0.1, 0.3, 0.5, 0.7, 2.0}) h.observe(v);
  CHECK(h.cumulative(0) == 2);  // 0.05 and 0.1 (on the bound)
  CHECK(h.cumulative(1) == 4);
  CHECK(h.cumulative(2) == 5);
  CHECK(h.cumulative(3) == 6);  // +Inf
  CHECK(h.count() == 6);
  CHECK(h.sum() == doctest::Approx(3.65));
  const std::string text = r.render();
  CHECK(has_line(text, "# TYPE npcorch_wait_seconds histogram"));
  CHECK(has_line(text, R"(npcorch_wait_seconds_bucket{queue="q",le="0.1"} 2)"));
  CHECK(has_line(text, R"(npcorch_wait_seconds_bucket{queue="q",le="1"} 5)"));
  CHECK(has_line(text, R"(npcorch_wait_seconds_bucket{queue="q",le="+Inf"} 6)"));
  CHECK(has_line(text, R"(npcorch_wait_seconds_count{queue="q"} 6)"));
}

TEST_CASE("metrics: counters, gauges and histograms take updates from many threads at once") {
  registry r;
  auto& c = r.get_counter("npcorch_c_total", "C");
  auto& g = r.get_gauge("npcorch_g", "G");
  auto& h = r.get_histogram("npcorch_h", "H", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        g.add(1);
        h.observe(0.5);
        r.get_counter("npcorch_c_total", "C");  // lookups race the updates and each other
      }
    });
  for (auto& t : threads) t.join();
  CHECK(c.value() == 40000);
  CHECK(g.value() == 40000);
  CHECK(h.count() == 40000);
  CHECK(h.cumulative(0) == 40000);
}
