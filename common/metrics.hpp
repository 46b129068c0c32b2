#pragma once
// A small Prometheus metrics registry: counters, gauges and histograms with labels, rendered
// in the text exposition format. Every part of the daemon that counts takes a `registry&`
// from the app; there are no global metrics.
//
// Thread-safety: creating or looking up a metric takes a mutex; the returned reference is
// stable for the registry's lifetime and its updates are lock-free atomics. Metrics with fixed
// labels are looked up once and the reference kept; ones labelled by a runtime value (agent,
// failure reason) are looked up per use, which costs the mutex and a linear label scan.
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace orch::metrics {

using labels = std::vector<std::pair<std::string, std::string>>;

class counter {
 public:
  void inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void add(double d);
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class histogram {
 public:
  explicit histogram(std::vector<double> upper_bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative count of observations <= bounds()[i]; i == bounds().size() gives the total.
  std::uint64_t cumulative(std::size_t i) const;
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // per bucket, not cumulative; +1 for +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Buckets for latencies in seconds: 1 ms to 10 s, with 0.5 s among them.
std::vector<double> latency_buckets();

class registry {
 public:
  counter& get_counter(const std::string& name, const std::string& help, const labels& l = {});
  gauge& get_gauge(const std::string& name, const std::string& help, const labels& l = {});
  histogram& get_histogram(const std::string& name, const std::string& help, const labels& l = {},
                           std::vector<double> bounds = latency_buckets());
  // Prometheus text format, families sorted by name.
  std::string render() const;
  // Value of a counter or gauge, or -1 when absent (for tests and the flood report).
  double value(const std::string& name, const labels& l = {}) const;

 private:
  enum class type { counter, gauge, histogram };
  struct family {
    type t;
    std::string help;
    std::deque<std::pair<labels, counter>> counters;
    std::deque<std::pair<labels, gauge>> gauges;
    std::deque<std::pair<labels, histogram>> histograms;
  };
  family& family_for(const std::string& name, const std::string& help, type t);
  mutable std::mutex mu_;
  std::map<std::string, family> families_;
};

}  // namespace orch::metrics
