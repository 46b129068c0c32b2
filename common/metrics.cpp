#include "common/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace orch::metrics {

void gauge::add(double d) {
  double cur = v_.load(std::memory_order_relaxed);
  while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {}
}

histogram::histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  std::sort(bounds_.begin(), bounds_.end());
}

void histogram::observe(double v) {
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {}
}

std::uint64_t histogram::cumulative(std::size_t i) const {
  std::uint64_t total = 0;
  for (std::size_t b = 0; b <= std::min(i, bounds_.size()); ++b) total += buckets_[b].load(std::memory_order_relaxed);
  return total;
}

std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

registry::family& registry::family_for(const std::string& name, const std::string& help, type t) {
  auto [it, fresh] = families_.try_emplace(name, family{t, help, {}, {}, {}});
  if (!fresh && it->second.t != t) throw std::logic_error("metric " + name + " registered with two types");
  return it->second;
}

template <class T, class Make>
static T& find_or_add(std::deque<std::pair<labels, T>>& d, const labels& l, Make make) {
  for (auto& [k, v] : d)
    if (k == l) return v;
  return make();
}

counter& registry::get_counter(const std::string& name, const std::string& help, const labels& l) {
  std::lock_guard lk(mu_);
  auto& f = family_for(name, help, type::counter);
  return find_or_add(f.counters, l, [&]() -> counter& {
    return f.counters.emplace_back(std::piecewise_construct, std::forward_as_tuple(l), std::forward_as_tuple()).second;
  });
}

gauge& registry::get_gauge(const std::string& name, const std::string& help, const labels& l) {
  std::lock_guard lk(mu_);
  auto& f = family_for(name, help, type::gauge);
  return find_or_add(f.gauges, l, [&]() -> gauge& {
    return f.gauges.emplace_back(std::piecewise_construct, std::forward_as_tuple(l), std::forward_as_tuple()).second;
  });
}

histogram& registry::get_histogram(const std::string& name, const std::string& help, const labels& l,
                                   std::vector<double> bounds) {
  std::lock_guard lk(mu_);
  auto& f = family_for(name, help, type::histogram);
  return find_or_add(f.histograms, l, [&]() -> histogram& {
    return f.histograms
        .emplace_back(std::piecewise_construct, std::forward_as_tuple(l), std::forward_as_tuple(std::move(bounds)))
        .second;
  });
}

static void escape_into(std::ostringstream& os, const std::string& v) {
  for (char c : v) {
    if (c == '\\')
      os << "\\\\";
    else if (c == '"')
      os << "\\\"";
    else if (c == '\n')
      os << "\\n";
    else
      os << c;
  }
}

static void put_labels(std::ostringstream& os, const labels& l, const char* extra_k = nullptr,
                       const std::string& extra_v = {}) {
  if (l.empty() && !extra_k) return;
  os << '{';
  bool first = true;
  for (auto& [k, v] : l) {
    if (!first) os << ',';
    first = false;
    os << k << "=\"";
    escape_into(os, v);
    os << '"';
  }
  if (extra_k) {
    if (!first) os << ',';
    os << extra_k << "=\"" << extra_v << '"';
  }
  os << '}';
}

static std::string num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::ostringstream os;
  os.precision(10);
  os << v;
  return os.str();
}

std::string registry::render() const {
  std::lock_guard lk(mu_);
  std::ostringstream os;
  for (auto& [name, f] : families_) {
    os << "# HELP " << name << ' ' << f.help << '\n';
    switch (f.t) {
      case type::counter:
        os << "# TYPE " << name << " counter\n";
        for (auto& [l, c] : f.counters) {
          os << name;
          put_labels(os, l);
          os << ' ' << c.value() << '\n';
        }
        break;
      case type::gauge:
        os << "# TYPE " << name << " gauge\n";
        for (auto& [l, g] : f.gauges) {
          os << name;
          put_labels(os, l);
          os << ' ' << num(g.value()) << '\n';
        }
        break;
      case type::histogram:
        os << "# TYPE " << name << " histogram\n";
        for (auto& [l, h] : f.histograms) {
          for (std::size_t i = 0; i < h.bounds().size(); ++i) {
            os << name << "_bucket";
            put_labels(os, l, "le", num(h.bounds()[i]));
            os << ' ' << h.cumulative(i) << '\n';
          }
          os << name << "_bucket";
          put_labels(os, l, "le", "+Inf");
          os << ' ' << h.cumulative(h.bounds().size()) << '\n';
          os << name << "_sum";
          put_labels(os, l);
          os << ' ' << num(h.sum()) << '\n';
          os << name << "_count";
          put_labels(os, l);
          os << ' ' << h.count() << '\n';
        }
        break;
    }
  }
  return os.str();
}

double registry::value(const std::string& name, const labels& l) const {
  std::lock_guard lk(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return -1;
  for (auto& [k, c] : it->second.counters)
    if (k == l) return static_cast<double>(c.value());
  for (auto& [k, g] : it->second.gauges)
    if (k == l) return g.value();
  return -1;
}

}  // namespace orch::metrics
