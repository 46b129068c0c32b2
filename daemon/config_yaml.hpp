#pragma once
// Helpers shared by the config and world-registry loaders: a YAML walker that collects
// errors (each naming the YAML path and the 1-based line, or "(--set)" for values that came
// from a command-line override), rejects unknown and duplicate keys, and reads typed,
// range-checked values.
//
// One yaml_reader per load; not thread-safe (plain single-threaded helper). It never throws
// for bad input: every problem becomes one line in errors().
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orch::daemon::detail {

// One key/value pair of a YAML map, with its dotted path and the line of its key.
struct yaml_entry {
  std::string key;
  std::string path;
  YAML::Mark mark;
  YAML::Node value;
};

inline constexpr std::uint64_t unbounded = std::numeric_limits<std::uint64_t>::max();

class yaml_reader {
 public:
  using handler = std::function<void(const yaml_entry&)>;
  using handler_table = std::vector<std::pair<std::string_view, handler>>;

  // prefix is put before every error (e.g. "etc/world.yaml: "); empty for the main config.
  explicit yaml_reader(std::string prefix = {}) : prefix_(std::move(prefix)) {}

  // Values at this path (and below it) came from `--set`: their errors say "(--set)".
  void mark_override(std::string path) { overrides_.insert(std::move(path)); }
  bool from_override(std::string_view path, const YAML::Mark& m) const;

  void error(std::string_view path, const YAML::Mark& m, std::string_view msg);
  void error(const yaml_entry& e, std::string_view msg) { error(e.path, e.mark, msg); }
  void error_plain(std::string msg) { errors_.push_back(std::move(msg)); }
  const std::vector<std::string>& errors() const { return errors_; }
  std::vector<std::string>& errors() { return errors_; }

  // The entries of a map in document order. Reports duplicate keys (only the first is
  // returned) and non-scalar keys. A null node is an empty map; another non-map is an error
  // and yields nothing.
  std::vector<yaml_entry> entries(const YAML::Node& node, const std::string& path, const YAML::Mark& m);
  // Walks a map: calls the handler of each known key; unknown keys are errors that list
  // the accepted keys.
  void walk(const YAML::Node& node, const std::string& path, const YAML::Mark& m, const handler_table& table);

  // Typed readers: on failure they report "<path>: expected ..." and return false, leaving
  // `out` untouched.
  // hi == type_max means "no range but the type's own": the message then says "a positive
  // integer" rather than a range.
  bool read_u64(const yaml_entry& e, std::uint64_t lo, std::uint64_t hi, std::uint64_t type_max, std::uint64_t& out);
  template <class T>
  bool read_uint(const yaml_entry& e, std::uint64_t lo, std::uint64_t hi, T& out) {
    constexpr auto type_max = static_cast<std::uint64_t>(std::numeric_limits<T>::max());
    std::uint64_t v = 0;
    if (!read_u64(e, lo, hi < type_max ? hi : type_max, type_max, v)) return false;
    out = static_cast<T>(v);
    return true;
  }
  // A duration given as an integer count of D's unit (`_ms` -> milliseconds, `_s` -> seconds).
  template <class D>
  bool read_duration(const yaml_entry& e, std::uint64_t lo, std::uint64_t hi, D& out) {
    std::uint32_t v = 0;  // 32 bits keep any deadline arithmetic far from overflow
    if (!read_uint(e, lo, hi, v)) return false;
    out = D(static_cast<typename D::rep>(v));
    return true;
  }
  // A finite number in [lo, hi] (or (lo, hi] when lo_open).
  bool read_number(const yaml_entry& e, double lo, bool lo_open, double hi, double& out);
  // Any scalar as text; null is "" when allow_null.
  bool read_string(const yaml_entry& e, std::string& out, bool allow_null = true);
  // A non-empty string.
  bool read_required_string(const yaml_entry& e, std::string& out) {
    std::string s;
    if (!read_string(e, s, false)) return false;
    if (s.empty()) {
      error(e, "expected a non-empty string");
      return false;
    }
    out = std::move(s);
    return true;
  }

  // "a positive integer", "an integer in [0, 65535]", ...
  static std::string describe_range(std::uint64_t lo, std::uint64_t hi, std::uint64_t type_max);

 private:
  std::string prefix_;
  std::set<std::string, std::less<>> overrides_;
  std::vector<std::string> errors_;
};

// The 1-based line of a mark, or 0 when the node has no position.
inline int line_of(const YAML::Mark& m) { return m.is_null() ? 0 : m.line + 1; }

}  // namespace orch::daemon::detail
