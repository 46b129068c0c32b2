#pragma once
// A reader for the Prometheus text exposition format, enough for the flood report: samples
// with labels, sums over labels, and a histogram quantile as a bucket's upper bound.
// Pure code, header-only for the tests.
//
// Thread-safety: plain values. Failure: never throws; lines it cannot read are skipped and
// counted in `bad_lines`, absent metrics come back as std::nullopt (printed as n/a).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace orch::tools {

struct prom_sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

class prom_text {
 public:
  prom_text() = default;
  explicit prom_text(std::string_view text) { parse(text); }

  const std::vector<prom_sample>& samples() const { return samples_; }
  std::size_t bad_lines() const { return bad_lines_; }
  bool empty() const { return samples_.empty(); }

  // Sum of every sample named `name` whose labels include `where` (all of them when empty).
  std::optional<double> sum(const std::string& name, const std::map<std::string, std::string>& where = {}) const {
    std::optional<double> total;
    for (const auto& s : samples_) {
      if (s.name != name || !matches(s, where)) continue;
      total = total.value_or(0) + s.value;
    }
    return total;
  }

  // Values of label `label` seen on samples named `name` (e.g. every queue).
  std::set<std::string> label_values(const std::string& name, const std::string& label) const {
    std::set<std::string> out;
    for (const auto& s : samples_) {
      if (s.name != name) continue;
      if (auto it = s.labels.find(label); it != s.labels.end()) out.insert(it->second);
    }
    return out;
  }

  // Upper bound of the bucket of histogram `name` that holds quantile q (0..1), from its
  // cumulative `_bucket{le=...}` samples restricted to `where`. +inf when it lies past the
  // last finite bound; nullopt when the histogram is absent or empty.
  std::optional<double> quantile_bound(const std::string& name, double q,
                                       const std::map<std::string, std::string>& where = {}) const {
    std::vector<std::pair<double, double>> buckets;  // (le, cumulative count), summed over series
    for (const auto& s : samples_) {
      if (s.name != name + "_bucket" || !matches(s, where)) continue;
      auto le = s.labels.find("le");
      if (le == s.labels.end()) continue;
      const double bound = parse_value(le->second);
      if (std::isnan(bound)) continue;
      auto it = std::find_if(buckets.begin(), buckets.end(), [&](const auto& b) { return b.first == bound; });
      if (it == buckets.end())
        buckets.emplace_back(bound, s.value);
      else
        it->second += s.value;
    }
    if (buckets.empty()) return std::nullopt;
    std::sort(buckets.begin(), buckets.end());
    const double total = buckets.back().second;
    if (total <= 0) return std::nullopt;
    const double rank = q * total;
    for (const auto& [bound, cum] : buckets) {
      if (cum >= rank) return bound;
    }
    return std::numeric_limits<double>::infinity();
  }

  // Counters and histogram series of `after` minus those of `before` (same name and labels),
  // so a report covers one run even when the daemon has been up for longer; gauges and
  // anything else keep their `after` value. A counter that went down (restart) keeps `after`.
  static prom_text delta(const prom_text& before, const prom_text& after) {
    auto cumulative = [](const std::string& n) {
      auto ends = [&](std::string_view suf) {
        return n.size() >= suf.size() && n.compare(n.size() - suf.size(), suf.size(), suf) == 0;
      };
      return ends("_total") || ends("_bucket") || ends("_count") || ends("_sum");
    };
    std::map<std::pair<std::string, std::map<std::string, std::string>>, double> old;
    for (const auto& s : before.samples_) old[{s.name, s.labels}] = s.value;
    prom_text out;
    for (auto s : after.samples_) {
      if (cumulative(s.name)) {
        auto it = old.find({s.name, s.labels});
        if (it != old.end() && it->second <= s.value) s.value -= it->second;
      }
      out.samples_.push_back(std::move(s));
    }
    out.bad_lines_ = after.bad_lines_;
    return out;
  }

  static double parse_value(std::string_view v) {
    if (v == "+Inf" || v == "Inf") return std::numeric_limits<double>::infinity();
    if (v == "-Inf") return -std::numeric_limits<double>::infinity();
    if (v == "NaN") return std::numeric_limits<double>::quiet_NaN();
    const std::string s(v);
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || *end != '\0') return std::numeric_limits<double>::quiet_NaN();
    return d;
  }

 private:
  static bool matches(const prom_sample& s, const std::map<std::string, std::string>& where) {
    for (const auto& [k, v] : where) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) return false;
    }
    return true;
  }

  void parse(std::string_view text) {
    while (!text.empty()) {
      const auto nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
      if (line.empty() || line.front() == '#') continue;
      if (!parse_line(line)) ++bad_lines_;
    }
  }

  bool parse_line(std::string_view line) {
    prom_sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = std::string(line.substr(0, i));
    if (s.name.empty()) return false;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const auto eq = line.find('=', i);
        if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') return false;
        std::string key(line.substr(i, eq - i));
        std::string val;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            val += line[j] == 'n' ? '\n' : line[j];
          } else {
            val += line[j];
          }
        }
        if (j >= line.size()) return false;
        s.labels.emplace(std::move(key), std::move(val));
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return false;
      ++i;  // '}'
    }
    while (i < line.size() && line[i] == ' ') ++i;
    auto rest = line.substr(i);
    rest = rest.substr(0, rest.find(' '));  // drop an optional timestamp
    s.value = parse_value(rest);
    if (std::isnan(s.value) && rest != "NaN") return false;
    samples_.push_back(std::move(s));
    return true;
  }

  std::vector<prom_sample> samples_;
  std::size_t bad_lines_ = 0;
};

}  // namespace orch::tools
