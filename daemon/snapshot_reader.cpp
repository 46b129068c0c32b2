#include "daemon/snapshot_reader.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include <rapidjson/encodedstream.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include "daemon/json_codec.hpp"

namespace orch::daemon {
namespace {

using size_type = rapidjson::SizeType;

// A JSON number as RapidJSON's SAX reports it, kept in the DOM's terms: IsInt64, IsUint64
// and GetDouble give the same answers as for a Document value.
struct number {
  enum class kind : std::uint8_t { negative, non_negative, real } k = kind::real;
  std::int64_t i = 0;   // kind::negative
  std::uint64_t u = 0;  // kind::non_negative
  double d = 0;         // kind::real

  static number of_signed(std::int64_t v) {
    number n;
    if (v < 0) {
      n.k = kind::negative;
      n.i = v;
    } else {
      n.k = kind::non_negative;
      n.u = static_cast<std::uint64_t>(v);
    }
    return n;
  }
  static number of_unsigned(std::uint64_t v) {
    number n;
    n.k = kind::non_negative;
    n.u = v;
    return n;
  }
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

// Where the reader is. Each open container of interest has a frame; containers the schema
// does not look into are skipped with a depth counter.
enum class frame : std::uint8_t {
  root, events, clusters, cluster, cluster_members, human, entity, position, health, groups, group_members
};

// The keys the schema reads, per frame (bit positions in frame_state::seen).
enum class field : std::uint8_t {
  none,
  // root
  timestamp, events, clusters, human_context, game_id, seq,
  // cluster
  members, npcs, players,
  // entity
  position, health, location, kind, id, appearance, last_seen, current_groups, recent_interactions, relationships,
  // position
  x, y, z,
  // health
  current, max, state, is_moving, velocity,
  // skipped (a key the schema ignores)
  other
};

struct frame_state {
  frame f;
  std::uint64_t seen = 0;  // bit per field: a key read twice sends the body to the reference
};

field root_field(std::string_view k) {
  if (k == "timestamp") return field::timestamp;
  if (k == "events") return field::events;
  if (k == "clusters") return field::clusters;
  if (k == "humanContext") return field::human_context;
  if (k == "gameId") return field::game_id;
  if (k == "seq") return field::seq;
  return field::other;
}

field entity_field(std::string_view k) {
  switch (k.size()) {
    case 2:
      if (k == "id") return field::id;
      break;
    case 4:
      if (k == "kind") return field::kind;
      break;
    case 6:
      if (k == "health") return field::health;
      break;
    case 8:
      if (k == "position") return field::position;
      if (k == "location") return field::location;
      if (k == "lastSeen") return field::last_seen;
      break;
    case 10:
      if (k == "appearance") return field::appearance;
      break;
    case 13:
      if (k == "currentGroups") return field::current_groups;
      if (k == "relationships") return field::relationships;
      break;
    case 18:
      if (k == "recentInteractions") return field::recent_interactions;
      break;
    default:
      break;
  }
  return field::other;
}

field position_field(std::string_view k) {
  if (k.size() != 1) return field::other;
  if (k[0] == 'x') return field::x;
  if (k[0] == 'y') return field::y;
  if (k[0] == 'z') return field::z;
  return field::other;
}

field health_field(std::string_view k) {
  if (k == "current") return field::current;
  if (k == "max") return field::max;
  if (k == "state") return field::state;
  if (k == "isMoving") return field::is_moving;
  if (k == "velocity") return field::velocity;
  return field::other;
}

field cluster_field(std::string_view k) {
  if (k == "members") return field::members;
  if (k == "npcs") return field::npcs;
  if (k == "players") return field::players;
  return field::other;
}

constexpr std::uint64_t bit(field f) { return std::uint64_t{1} << static_cast<unsigned>(f); }

// The SAX handler. Returning false stops the Reader: the caller then uses the reference
// decoder, which reports the error (or, for a duplicate key, decides as it always did).
class snapshot_handler {
 public:
  snapshot_handler(workers::snapshot& out) : s_(out) {}

  bool finished() const {
    return root_done_ && (root_seen_ & bit(field::timestamp)) && (root_seen_ & bit(field::events)) &&
           (root_seen_ & bit(field::clusters)) && (root_seen_ & bit(field::human_context));
  }

  bool Null() { return scalar_null(); }
  bool Bool(bool b) { return scalar_bool(b); }
  bool Int(int i) { return scalar_number(number::of_signed(i)); }
  bool Uint(unsigned u) { return scalar_number(number::of_unsigned(u)); }
  bool Int64(std::int64_t i) { return scalar_number(number::of_signed(i)); }
  bool Uint64(std::uint64_t u) { return scalar_number(number::of_unsigned(u)); }
  bool Double(double d) {
    number n;
    n.d = d;
    return scalar_number(n);
  }
  bool RawNumber(const char*, size_type, bool) { return false; }  // not enabled
  bool String(const char* p, size_type n, bool) { return scalar_string(std::string_view(p, n)); }

  bool Key(const char* p, size_type n, bool) {
    if (skip_ > 0) return true;
    const std::string_view k(p, n);
    auto& top = stack_[depth_ - 1];
    switch (top.f) {
      case frame::root: key_ = root_field(k); break;
      case frame::cluster: key_ = cluster_field(k); break;
      case frame::human: return start_entity(k);
      case frame::entity: key_ = entity_field(k); break;
      case frame::position: key_ = position_field(k); break;
      case frame::health: key_ = health_field(k); break;
      case frame::groups: key_ = k == "members" ? field::members : field::other; break;
      default: return false;
    }
    if (key_ == field::other) return true;
    if (top.seen & bit(key_)) return false;  // duplicate: the reference decoder decides
    top.seen |= bit(key_);
    return true;
  }

  bool StartObject() { return open(true); }
  bool StartArray() { return open(false); }
  bool EndObject(size_type) { return close(); }
  bool EndArray(size_type) { return close(); }

 private:
  // A value arrives in the current frame: count it when it is an element of `events`.
  void count_event() {
    if (depth_ > 0 && stack_[depth_ - 1].f == frame::events) ++s_.event_count;
  }

  bool push(frame f) {
    if (depth_ >= stack_.size()) return false;
    stack_[depth_++] = frame_state{f, 0};
    key_ = field::none;
    return true;
  }

  bool open(bool object) {
    if (++nesting_ > max_json_depth) return false;
    if (skip_ > 0) {
      ++skip_;
      return true;
    }
    if (depth_ == 0) {
      if (root_done_ || !object) return false;
      return push(frame::root);
    }
    count_event();
    const frame f = stack_[depth_ - 1].f;
    const field k = key_;
    key_ = field::none;
    switch (f) {
      case frame::root:
        if (k == field::events && !object) return push(frame::events);
        if (k == field::clusters && !object) return push(frame::clusters);
        if (k == field::human_context && object) return push(frame::human);
        if (k == field::other) return skip();
        return false;
      case frame::events: return skip();
      case frame::clusters:
        if (!object) return false;
        s_.clusters.emplace_back();
        return push(frame::cluster);
      case frame::cluster:
        if (k == field::members && !object) return push(frame::cluster_members);
        if (k == field::other) return skip();
        return false;
      case frame::human: return object ? push(frame::entity) : false;  // an entity is an object
      case frame::entity: return open_in_entity(k, object);
      case frame::position:
      case frame::health: return k == field::other ? skip() : false;
      case frame::groups:
        if (k == field::members && !object) return push(frame::group_members);
        if (k == field::other) return skip();
        return false;
      default: return false;  // an element of a name list, or an entity, that is no string/object
    }
  }

  bool open_in_entity(field k, bool object) {
    auto& e = s_.entities.back();
    switch (k) {
      case field::position:
        if (!object) return false;
        pos_ = {};
        return push(frame::position);
      case field::health:
        if (!object) return false;
        e.health.emplace();
        return push(frame::health);
      case field::current_groups: return object ? push(frame::groups) : false;
      case field::recent_interactions: return object ? false : skip();
      case field::relationships:
      case field::other: return skip();
      default: return false;
    }
  }

  bool skip() {
    skip_ = 1;
    return true;
  }

  bool close() {
    --nesting_;
    if (skip_ > 0) {
      --skip_;
      return true;
    }
    const frame_state top = stack_[--depth_];
    key_ = field::none;
    switch (top.f) {
      case frame::root:
        root_done_ = true;
        root_seen_ = top.seen;
        return finish_root();
      case frame::cluster: return (top.seen & bit(field::members)) != 0;
      case frame::position:
        if ((top.seen & (bit(field::x) | bit(field::y) | bit(field::z))) !=
            (bit(field::x) | bit(field::y) | bit(field::z)))
          return false;
        s_.entities.back().position = pos_;
        return true;
      default: return true;
    }
  }

  bool finish_root() {
    if (!(root_seen_ & bit(field::game_id)) && !header_game_id_.empty()) {
      if (header_game_id_.size() > 256) return false;
      s_.game_id.assign(header_game_id_);
    }
    return true;
  }

  bool start_entity(std::string_view name) {
    if (name.empty() || name.size() > 256) return false;
    auto& e = s_.entities.emplace_back();
    e.name.assign(name);
    return true;
  }

  static bool finite(double d) { return std::isfinite(d); }

  // The reference decoder's `integer`: an int64, or a double that is a whole number below 9e15.
  static bool integer(const number& n, std::int64_t& out) {
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

  bool scalar_null() {
    if (skip_ > 0) return true;
    count_event();
    if (depth_ == 0) return false;
    const auto f = stack_[depth_ - 1].f;
    const field k = key_;
    key_ = field::none;
    if (f == frame::events) return true;
    if (k == field::other) return true;
    // currentGroups may be null; any other field the schema reads has a type.
    return f == frame::entity && k == field::current_groups;
  }

  bool scalar_bool(bool b) {
    if (skip_ > 0) return true;
    count_event();
    if (depth_ == 0) return false;
    const auto f = stack_[depth_ - 1].f;
    const field k = key_;
    key_ = field::none;
    if (f == frame::events || k == field::other) return true;
    if (f == frame::health && k == field::is_moving) {
      s_.entities.back().health->is_moving = b;
      return true;
    }
    return false;
  }

  bool scalar_number(const number& n) {
    if (skip_ > 0) return true;
    count_event();
    if (depth_ == 0) return false;
    const auto f = stack_[depth_ - 1].f;
    const field k = key_;
    key_ = field::none;
    if (f == frame::events || k == field::other) return true;
    switch (f) {
      case frame::root:
        if (k == field::timestamp) return integer(n, s_.timestamp);
        if (k == field::seq) {
          if (n.k != number::kind::non_negative) return false;
          s_.seq = n.u;
          return true;
        }
        return false;
      case frame::cluster:
        if (k == field::npcs) return integer(n, s_.clusters.back().npcs);
        if (k == field::players) return integer(n, s_.clusters.back().players);
        return false;
      case frame::position: {
        const double d = n.real();
        if (!finite(d)) return false;
        (k == field::x ? pos_.x : k == field::y ? pos_.y : pos_.z) = d;
        return true;
      }
      case frame::health: {
        const double d = n.real();
        if (!finite(d)) return false;
        auto& h = *s_.entities.back().health;
        if (k == field::current) h.current = d;
        else if (k == field::max && d >= 0) h.max = d;
        else if (k == field::velocity) h.velocity = d;
        else return false;
        return true;
      }
      case frame::entity: {
        auto& e = s_.entities.back();
        if (k == field::last_seen) {
          const double d = n.real();
          if (!finite(d)) return false;
          e.last_seen = d;
          return true;
        }
        if (k == field::id) {
          if (n.k == number::kind::real) return false;
          e.id = n.is_int64() ? std::to_string(n.int64()) : std::to_string(n.u);
          return true;
        }
        return false;
      }
      default: return false;
    }
  }

  bool scalar_string(std::string_view v) {
    if (skip_ > 0) return true;
    count_event();
    if (depth_ == 0) return false;
    const auto f = stack_[depth_ - 1].f;
    const field k = key_;
    key_ = field::none;
    if (f == frame::events || k == field::other) return true;
    switch (f) {
      case frame::root:
        if (k == field::game_id) {
          if (v.empty() || v.size() > 256) return false;
          s_.game_id.assign(v);
          return true;
        }
        return false;
      case frame::cluster_members:
        if (v.size() > 256) return false;
        s_.clusters.back().members.emplace_back(v);
        return true;
      case frame::group_members: return v.size() <= 256;
      case frame::health:
        if (k != field::state || v.size() > 256) return false;
        s_.entities.back().health->state.emplace(v);
        return true;
      case frame::entity: {
        auto& e = s_.entities.back();
        switch (k) {
          case field::location:
            if (v.size() > 256) return false;
            e.location.emplace(v);
            return true;
          case field::kind:
            if (v != "npc" && v != "player") return false;
            e.kind.emplace(v);
            return true;
          case field::id:
            if (v.size() > 256) return false;
            e.id.emplace(v);
            return true;
          case field::appearance:
            if (v.size() > 1024) return false;
            e.appearance.emplace(v);
            return true;
          default: return false;
        }
      }
      default: return false;
    }
  }

 public:
  std::string_view header_game_id_;

 private:
  workers::snapshot& s_;
  std::array<frame_state, 8> stack_{};
  std::size_t depth_ = 0;    // frames in stack_
  std::size_t nesting_ = 0;  // JSON nesting, skipped containers included
  std::size_t skip_ = 0;     // > 0: inside a container the schema does not read
  field key_ = field::none;  // the key whose value comes next, in the top frame
  bool root_done_ = false;
  std::uint64_t root_seen_ = 0;
  workers::vec3 pos_;
};

// True when no byte has its high bit set: such a body is valid UTF-8 whatever it holds, so
// RapidJSON's per-character encoding validation can be skipped (the answer is the same).
bool all_ascii(std::string_view body) {
  const char* p = body.data();
  std::size_t n = body.size();
  std::uint64_t acc = 0;
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    acc |= w;
  }
  for (; n > 0; ++p, --n) acc |= static_cast<unsigned char>(*p);
  return (acc & 0x8080808080808080ULL) == 0;
}

// An ASCII body without NUL bytes: parsed in situ in a per-thread copy (strings are decoded
// in place, not copied onto the Reader's stack), with no encoding validation (the answer
// would be the same). The copy is null-terminated, which the in-situ stream needs.
// Both parses are RapidJSON's recursive descent (faster than the iterative state machine):
// the handler's open() refuses nesting deeper than max_json_depth before the parser descends,
// so the recursion is bounded by that limit whatever the body holds.
bool parse_in_situ(std::string_view body, snapshot_handler& h) {
  thread_local rapidjson::Reader reader;  // its stack is reused from body to body
  thread_local std::string copy;          // grows to the largest body, then stays
  copy.assign(body);
  rapidjson::InsituStringStream is(copy.data());
  return !reader.Parse<rapidjson::kParseInsituFlag>(is, h).IsError();
}

// Anything else, read exactly as the reference decoder reads it (its encoding validation).
bool parse_validating(std::string_view body, snapshot_handler& h) {
  thread_local rapidjson::Reader reader;
  rapidjson::MemoryStream ms(body.data(), body.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
  return !reader.Parse<rapidjson::kParseValidateEncodingFlag>(is, h).IsError();
}

}  // namespace

bool read_snapshot_fast(std::string_view body, std::string_view header_game_id, workers::snapshot& out) {
  snapshot_handler h(out);
  h.header_game_id_ = header_game_id;
  // Capacity for the usual entity count: growing would move every parsed entity.
  out.entities.reserve(std::min<std::size_t>(body.size() / 256 + 4, 4096));
  const bool plain = all_ascii(body) && std::memchr(body.data(), '\0', body.size()) == nullptr;
  const bool ok = plain ? parse_in_situ(body, h) : parse_validating(body, h);
  return ok && h.finished();
}

}  // namespace orch::daemon
