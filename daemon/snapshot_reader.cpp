#include "daemon/snapshot_reader.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "daemon/json_codec.hpp"

namespace orch::daemon {
namespace {

namespace dom = simdjson::dom;
using dom::element_type;

// The four leaf readers below are forced inline: called once per value (~2 500 per 50 KB
// snapshot), GCC kept them out of line, and inlining them took the tape walk from ~16 to
// ~10 us per snapshot (measured on the bench body, read_snapshot_fast alone).

// A JSON number in the reference decoder's terms (RapidJSON's IsInt64 / IsUint64 / GetDouble):
// simdjson's INT64 is negative or fits int64, UINT64 is above int64's range, DOUBLE has a
// fraction or an exponent. An integer outside both ranges is an error in simdjson (the body
// then goes to the reference decoder).
struct number {
  enum class kind : std::uint8_t { negative, non_negative, real } k = kind::real;
  std::int64_t i = 0;   // kind::negative
  std::uint64_t u = 0;  // kind::non_negative
  double d = 0;         // kind::real

  bool is_int64() const {
    return k == kind::negative ||
           (k == kind::non_negative && u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
  }
  std::int64_t int64() const { return k == kind::negative ? i : static_cast<std::int64_t>(u); }
  double real() const {
    if (k == kind::negative) return static_cast<double>(i);
    if (k == kind::non_negative) return static_cast<double>(u);
    return d;
  }
};

[[gnu::always_inline]] inline bool as_number(const dom::element& e, number& n) {
  switch (e.type()) {
    case element_type::INT64: {
      const std::int64_t v = e.get_int64().value_unsafe();
      if (v < 0) {
        n.k = number::kind::negative;
        n.i = v;
      } else {
        n.k = number::kind::non_negative;
        n.u = static_cast<std::uint64_t>(v);
      }
      return true;
    }
    case element_type::UINT64:
      n.k = number::kind::non_negative;
      n.u = e.get_uint64().value_unsafe();
      return true;
    case element_type::DOUBLE:
      n.k = number::kind::real;
      n.d = e.get_double().value_unsafe();
      return true;
    default:
      return false;
  }
}

// A finite number (positions, health values, lastSeen).
[[gnu::always_inline]] inline bool finite_number(const dom::element& e, double& out) {
  number n;
  if (!as_number(e, n)) return false;
  out = n.real();
  return std::isfinite(out);
}

// The reference decoder's `integer`: an int64, or a double that is a whole number below 9e15.
[[gnu::always_inline]] inline bool integer(const dom::element& e, std::int64_t& out) {
  number n;
  if (!as_number(e, n)) return false;
  if (n.is_int64()) {
    out = n.int64();
    return true;
  }
  if (n.k == number::kind::real && std::isfinite(n.d) && n.d == std::floor(n.d) && std::fabs(n.d) < 9.0e15) {
    out = static_cast<std::int64_t>(n.d);
    return true;
  }
  return false;
}

[[gnu::always_inline]] inline bool string_of(const dom::element& e, std::size_t max, std::string_view& out) {
  if (e.type() != element_type::STRING) return false;
  out = e.get_string().value_unsafe();
  return out.size() <= max;
}

// Sets an optional string, reusing the string's buffer when it already holds one (a snapshot
// from the pool is refilled in place).
[[gnu::always_inline]] inline void set(std::optional<std::string>& o, std::string_view s) {
  if (o)
    o->assign(s);
  else
    o.emplace(s);
}

// The container an element of that type holds (copied out of simdjson's result, which is a
// temporary: a range-for over the temporary's value would dangle).
dom::object object_of(const dom::element& e) { return dom::object(e.get_object().value_unsafe()); }
dom::array array_of(const dom::element& e) { return dom::array(e.get_array().value_unsafe()); }

bool is_container(const dom::element& e) {
  const auto t = e.type();
  return t == element_type::ARRAY || t == element_type::OBJECT;
}

// Every element a string of at most 256 bytes; each is handed to `take`.
template <class F>
bool name_list(const dom::element& e, F&& take) {
  if (e.type() != element_type::ARRAY) return false;
  for (dom::element m : array_of(e)) {
    std::string_view v;
    if (!string_of(m, 256, v)) return false;
    take(v);
  }
  return true;
}

// Overwrites `out` with the names of a JSON array (name_list's), in place: the first elements
// keep their buffers, the vector ends with exactly the array's size.
bool name_list_into(const dom::element& e, std::vector<std::string>& out) {
  // Room for all at once (the tape knows the count; a recycled list may have it already).
  if (e.type() == element_type::ARRAY) {
    const std::size_t count = std::min<std::size_t>(array_of(e).size(), 1u << 16);
    if (out.capacity() < count) out.reserve(count);
  }
  std::size_t n = 0;
  const bool ok = name_list(e, [&](std::string_view v) {
    if (n < out.size())
      out[n].assign(v);
    else
      out.emplace_back(v);
    ++n;
  });
  if (ok) out.resize(n);
  return ok;
}

// Seen-key bits per object: a key the schema reads that comes twice sends the body to the
// reference decoder (which decides as it always did).
class seen_keys {
 public:
  bool first(unsigned bit) {
    const std::uint32_t b = std::uint32_t{1} << bit;
    if (seen_ & b) return false;
    seen_ |= b;
    return true;
  }
  bool has(unsigned bit) const { return (seen_ & (std::uint32_t{1} << bit)) != 0; }

 private:
  std::uint32_t seen_ = 0;
};

bool read_position(const dom::element& e, workers::vec3& out) {
  if (e.type() != element_type::OBJECT) return false;
  seen_keys seen;
  for (auto [k, v] : object_of(e)) {
    double* dst = nullptr;
    unsigned bit = 0;
    if (k.size() == 1 && k[0] >= 'x' && k[0] <= 'z') {
      bit = static_cast<unsigned>(k[0] - 'x');
      dst = k[0] == 'x' ? &out.x : k[0] == 'y' ? &out.y : &out.z;
    }
    if (!dst) continue;  // a key the schema ignores: any value
    if (!seen.first(bit) || !finite_number(v, *dst)) return false;
  }
  return seen.has(0) && seen.has(1) && seen.has(2);
}

bool read_health(const dom::element& e, workers::entity_health& h) {
  if (e.type() != element_type::OBJECT) return false;
  seen_keys seen;
  for (auto [k, v] : object_of(e)) {
    if (k == "current") {
      double d;
      if (!seen.first(0) || !finite_number(v, d)) return false;
      h.current = d;
    } else if (k == "max") {
      double d;
      if (!seen.first(1) || !finite_number(v, d) || d < 0) return false;
      h.max = d;
    } else if (k == "state") {
      std::string_view s;
      if (!seen.first(2) || !string_of(v, 256, s)) return false;
      set(h.state, s);
    } else if (k == "isMoving") {
      if (!seen.first(3) || v.type() != element_type::BOOL) return false;
      h.is_moving = v.get_bool().value_unsafe();
    } else if (k == "velocity") {
      double d;
      if (!seen.first(4) || !finite_number(v, d)) return false;
      h.velocity = d;
    }
  }
  // Every field is overwritten: `h` may hold an earlier snapshot's health.
  if (!seen.has(0)) h.current.reset();
  if (!seen.has(1)) h.max.reset();
  if (!seen.has(2)) h.state.reset();
  if (!seen.has(3)) h.is_moving.reset();
  if (!seen.has(4)) h.velocity.reset();
  return true;
}

bool read_groups(const dom::element& e) {
  if (e.type() == element_type::NULL_VALUE) return true;
  if (e.type() != element_type::OBJECT) return false;
  bool members = false;
  for (auto [k, v] : object_of(e)) {
    if (k != "members") continue;
    if (members || !name_list(v, [](std::string_view) {})) return false;
    members = true;
  }
  return true;
}

enum entity_key : unsigned {
  k_position,
  k_health,
  k_location,
  k_kind,
  k_id,
  k_appearance,
  k_last_seen,
  k_groups,
  k_recent,
  k_rel
};

// Overwrites every field of `out` but its name (it may hold an earlier snapshot's entity).
bool read_entity(const dom::element& e, workers::snapshot_entity& out) {
  if (e.type() != element_type::OBJECT) return false;
  seen_keys seen;
  for (auto [k, v] : object_of(e)) {
    switch (k.size()) {
      case 2:
        if (k == "id") {
          if (!seen.first(k_id)) return false;
          if (v.type() == element_type::STRING) {
            std::string_view s;
            if (!string_of(v, 256, s)) return false;
            set(out.id, s);
          } else {
            number n;
            if (!as_number(v, n) || n.k == number::kind::real) return false;
            char digits[24];
            const auto r = n.is_int64() ? std::to_chars(digits, digits + sizeof digits, n.int64())
                                        : std::to_chars(digits, digits + sizeof digits, n.u);
            set(out.id, std::string_view(digits, static_cast<std::size_t>(r.ptr - digits)));
          }
        }
        break;
      case 4:
        if (k == "kind") {
          std::string_view s;
          if (!seen.first(k_kind) || !string_of(v, 256, s) || (s != "npc" && s != "player")) return false;
          set(out.kind, s);
        }
        break;
      case 6:
        if (k == "health") {
          if (!seen.first(k_health) || v.type() != element_type::OBJECT) return false;
          if (!out.health) out.health.emplace();
          if (!read_health(v, *out.health)) return false;
        }
        break;
      case 8:
        if (k == "position") {
          workers::vec3 p;
          if (!seen.first(k_position) || !read_position(v, p)) return false;
          out.position = p;
        } else if (k == "location") {
          std::string_view s;
          if (!seen.first(k_location) || !string_of(v, 256, s)) return false;
          set(out.location, s);
        } else if (k == "lastSeen") {
          double d;
          if (!seen.first(k_last_seen) || !finite_number(v, d)) return false;
          out.last_seen = d;
        }
        break;
      case 10:
        if (k == "appearance") {
          std::string_view s;
          if (!seen.first(k_appearance) || !string_of(v, 1024, s)) return false;
          set(out.appearance, s);
        }
        break;
      case 13:
        if (k == "currentGroups") {
          if (!seen.first(k_groups) || !read_groups(v)) return false;
        } else if (k == "relationships") {
          if (!seen.first(k_rel) || !is_container(v)) return false;
        }
        break;
      case 18:
        if (k == "recentInteractions") {
          if (!seen.first(k_recent) || v.type() != element_type::ARRAY) return false;
        }
        break;
      default:
        break;
    }
  }
  if (!seen.has(k_position)) out.position.reset();
  if (!seen.has(k_health)) out.health.reset();
  if (!seen.has(k_location)) out.location.reset();
  if (!seen.has(k_kind)) out.kind.reset();
  if (!seen.has(k_id)) out.id.reset();
  if (!seen.has(k_appearance)) out.appearance.reset();
  if (!seen.has(k_last_seen)) out.last_seen.reset();
  return true;
}

// Overwrites every field of `out` (it may hold an earlier snapshot's cluster).
bool read_cluster(const dom::element& e, workers::game_cluster& out) {
  if (e.type() != element_type::OBJECT) return false;
  seen_keys seen;
  for (auto [k, v] : object_of(e)) {
    if (k == "members") {
      if (!seen.first(0)) return false;
      if (!name_list_into(v, out.members)) return false;
    } else if (k == "npcs") {
      if (!seen.first(1) || !integer(v, out.npcs)) return false;
    } else if (k == "players") {
      if (!seen.first(2) || !integer(v, out.players)) return false;
    }
  }
  if (!seen.has(1)) out.npcs = 0;
  if (!seen.has(2)) out.players = 0;
  return seen.has(0);
}

enum root_key : unsigned { k_timestamp, k_events, k_clusters, k_human, k_game_id, k_seq };

// Overwrites every field of `s`, which may hold an earlier snapshot (from the pool): vectors are
// resized to the new counts and their elements overwritten, so they keep their buffers.
bool read_root(const dom::element& root, std::string_view header_game_id, workers::snapshot& s) {
  if (root.type() != element_type::OBJECT) return false;
  seen_keys seen;
  for (auto [k, v] : object_of(root)) {
    if (k == "timestamp") {
      if (!seen.first(k_timestamp) || !integer(v, s.timestamp)) return false;
    } else if (k == "events") {
      if (!seen.first(k_events) || v.type() != element_type::ARRAY) return false;
      s.event_count = 0;
      for ([[maybe_unused]] dom::element ev : array_of(v)) ++s.event_count;
    } else if (k == "clusters") {
      if (!seen.first(k_clusters) || v.type() != element_type::ARRAY) return false;
      const std::size_t count = std::min<std::size_t>(array_of(v).size(), 1u << 16);
      if (s.clusters.capacity() < count) s.clusters.reserve(count);
      std::size_t n = 0;
      for (dom::element c : array_of(v)) {
        if (!read_cluster(c, n < s.clusters.size() ? s.clusters[n] : s.clusters.emplace_back())) return false;
        ++n;
      }
      s.clusters.resize(n);
      if (s.clusters.capacity() > 4 * n + 16) s.clusters.shrink_to_fit();  // see humanContext
    } else if (k == "humanContext") {
      if (!seen.first(k_human) || v.type() != element_type::OBJECT) return false;
      const dom::object entities = object_of(v);
      // Room for exactly the entries there are (the tape knows the count): a snapshot waits in
      // the urgent queue with this vector, so spare capacity is memory held per queued game. A
      // recycled vector keeps the capacity it had (snapshot_pool bounds what it keeps), unless
      // that is far more than this body needs: a small game's snapshot does not keep a large
      // game's room while it waits.
      const std::size_t count = std::min<std::size_t>(entities.size(), 1u << 16);
      if (s.entities.capacity() < count) s.entities.reserve(count);
      std::size_t n = 0;
      for (auto [name, ev] : entities) {
        if (name.empty() || name.size() > 256) return false;
        auto& ent = n < s.entities.size() ? s.entities[n] : s.entities.emplace_back();
        ++n;
        ent.name.assign(name);
        if (!read_entity(ev, ent)) return false;
      }
      s.entities.resize(n);
      if (s.entities.capacity() > 4 * n + 16) s.entities.shrink_to_fit();
    } else if (k == "gameId") {
      std::string_view g;
      if (!seen.first(k_game_id) || !string_of(v, 256, g) || g.empty()) return false;
      s.game_id.assign(g);
    } else if (k == "seq") {
      if (!seen.first(k_seq)) return false;
      number n;
      if (!as_number(v, n) || n.k != number::kind::non_negative) return false;
      s.seq = n.u;
    }
  }
  if (!(seen.has(k_timestamp) && seen.has(k_events) && seen.has(k_clusters) && seen.has(k_human))) return false;
  if (!seen.has(k_seq)) s.seq.reset();
  if (!seen.has(k_game_id)) {
    if (header_game_id.size() > 256) return false;
    s.game_id.assign(header_game_id.empty() ? std::string_view("default") : header_game_id);
  }
  return true;
}

// Per thread: the parser (its tape and string buffers grow to the largest body, then stay)
// and a padded copy of the body (simdjson reads up to SIMDJSON_PADDING bytes past the end).
struct thread_scratch {
  dom::parser parser;
  std::vector<char> padded;
  bool ready = false;
};

}  // namespace

static_assert(snapshot_body_padding == simdjson::SIMDJSON_PADDING);

bool read_snapshot_fast(std::string_view body, std::string_view header_game_id, workers::snapshot& out,
                        std::size_t readable_after) {
  thread_local thread_scratch t;
  if (!t.ready) {
    // simdjson takes nesting below max_depth (max_json_depth - 1 levels): stricter than the
    // reference's limit, never looser; a body at the limit goes to the reference, which decides.
    if (t.parser.allocate(64 * 1024, max_json_depth) != simdjson::SUCCESS) return false;
    t.ready = true;
  }
  const char* text = body.data();
  if (readable_after < simdjson::SIMDJSON_PADDING) {
    if (t.padded.size() < body.size() + simdjson::SIMDJSON_PADDING)
      t.padded.resize(body.size() + simdjson::SIMDJSON_PADDING);
    std::memcpy(t.padded.data(), body.data(), body.size());
    std::memset(t.padded.data() + body.size(), 0, simdjson::SIMDJSON_PADDING);
    text = t.padded.data();
  }
  dom::element root;
  if (t.parser.parse(text, body.size(), false).get(root) != simdjson::SUCCESS) return false;
  return read_root(root, header_game_id, out);
}

}  // namespace orch::daemon
