#include "daemon/config_yaml.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <set>

namespace orch::daemon::detail {

namespace {

std::string fmt_number(double v) {
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, p) : std::string("?");
}

std::string node_text(const YAML::Node& n) { return n.IsScalar() ? n.Scalar() : std::string(); }

}  // namespace

bool yaml_reader::from_override(std::string_view path, const YAML::Mark& m) const {
  if (m.is_null()) return true;  // built by apply_overrides, not parsed from the file
  for (const auto& o : overrides_) {
    if (path == o) return true;
    if (path.size() > o.size() && path.substr(0, o.size()) == o && path[o.size()] == '.') return true;
  }
  return false;
}

void yaml_reader::error(std::string_view path, const YAML::Mark& m, std::string_view msg) {
  std::string s = prefix_;
  s += path.empty() ? std::string_view("<root>") : path;
  s += ": ";
  s += msg;
  if (from_override(path, m))
    s += " (--set)";
  else
    s += " (line " + std::to_string(line_of(m)) + ")";
  errors_.push_back(std::move(s));
}

std::vector<yaml_entry> yaml_reader::entries(const YAML::Node& node, const std::string& path, const YAML::Mark& m) {
  std::vector<yaml_entry> out;
  if (!node.IsDefined() || node.IsNull()) return out;
  if (!node.IsMap()) {
    error(path, m, "expected a map");
    return out;
  }
  std::set<std::string, std::less<>> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    // By value: the iterator's operator-> yields a temporary proxy, so a reference into it
    // would dangle (AddressSanitizer: stack-use-after-scope).
    const YAML::Node k = it->first;
    if (!k.IsScalar()) {
      error(path, k.Mark(), "map keys must be plain strings");
      continue;
    }
    yaml_entry e{k.Scalar(), path.empty() ? k.Scalar() : path + "." + k.Scalar(), k.Mark(), it->second};
    if (!seen.insert(e.key).second) {
      error(e, "duplicate key");
      continue;
    }
    out.push_back(std::move(e));
  }
  return out;
}

void yaml_reader::walk(const YAML::Node& node, const std::string& path, const YAML::Mark& m,
                       const handler_table& table) {
  for (const auto& e : entries(node, path, m)) {
    bool found = false;
    for (const auto& [name, fn] : table) {
      if (name == e.key) {
        fn(e);
        found = true;
        break;
      }
    }
    if (!found) {
      std::string known;
      for (const auto& [name, fn] : table) {
        if (!known.empty()) known += ", ";
        known += name;
      }
      error(e, "unknown key (expected one of: " + known + ")");
    }
  }
}

std::string yaml_reader::describe_range(std::uint64_t lo, std::uint64_t hi, std::uint64_t type_max) {
  if (hi >= type_max) {
    if (lo == 0) return "a non-negative integer";
    if (lo == 1) return "a positive integer";
    return "an integer >= " + std::to_string(lo);
  }
  return "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

bool yaml_reader::read_u64(const yaml_entry& e, std::uint64_t lo, std::uint64_t hi, std::uint64_t type_max,
                           std::uint64_t& out) {
  std::string what = "expected " + describe_range(lo, hi, type_max);
  const std::string text = node_text(e.value);
  std::uint64_t v = 0;
  const char* b = text.data();
  const char* end = b + text.size();
  if (!text.empty() && *b == '+') ++b;
  auto [p, ec] = std::from_chars(b, end, v);
  if (text.empty() || ec == std::errc::invalid_argument || p != end) {
    error(e, what);
    return false;
  }
  if (ec == std::errc::result_out_of_range || v < lo || v > hi) {
    if (hi >= type_max && type_max != unbounded) what += " (at most " + std::to_string(hi) + ")";
    error(e, what);
    return false;
  }
  out = v;
  return true;
}

bool yaml_reader::read_number(const yaml_entry& e, double lo, bool lo_open, double hi, double& out) {
  std::string what =
      "expected a number in " + std::string(lo_open ? "(" : "[") + fmt_number(lo) + ", " + fmt_number(hi) + "]";
  const std::string text = node_text(e.value);
  double v = 0;
  const char* b = text.data();
  const char* end = b + text.size();
  if (!text.empty() && *b == '+') ++b;
  auto [p, ec] = std::from_chars(b, end, v);
  if (text.empty() || ec != std::errc() || p != end || !std::isfinite(v) || v > hi || v < lo || (lo_open && v == lo)) {
    error(e, what);
    return false;
  }
  out = v;
  return true;
}

bool yaml_reader::read_string(const yaml_entry& e, std::string& out, bool allow_null) {
  if (e.value.IsNull() && allow_null) {
    out.clear();
    return true;
  }
  if (!e.value.IsScalar()) {
    error(e, "expected a string");
    return false;
  }
  out = e.value.Scalar();
  return true;
}

}  // namespace orch::daemon::detail
