// daemon/snapshot_reader: the simdjson fast path gives exactly the reference decoder's answer
// (same snapshot, or the same error with the same field path and offset) on random bodies,
// good ones and broken ones — also when it refills a snapshot that held another body (the
// snapshot pool's case), and through snapshot_pool::parse.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/json_codec.hpp"
#include "daemon/snapshot_pool.hpp"
#include "daemon/snapshot_reader.hpp"

using namespace orch::daemon;
using orch::workers::snapshot;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Random JSON in the snapshot's shape, where every field may be missing, duplicated, of
// another type, out of range or joined by keys the schema ignores.
class body_maker {
 public:
  // `calm` > 1 makes every deviation that many times rarer (more good bodies).
  body_maker(std::uint32_t seed, int calm) : rng_(seed), calm_(calm) {}

  std::string make() {
    std::string o = "{";
    bool first = true;
    auto field = [&](const std::string& k, const std::string& v) {
      if (!first) o += ",";
      first = false;
      o += "\"" + k + "\":" + v;
    };
    if (keep(0.95)) field("timestamp", pick_number(true));
    if (keep(0.95))
      field("events", one_in(15) ? any_value(2) : "[" + join(count(0, 3), [&] { return any_value(2); }) + "]");
    if (keep(0.95))
      field("clusters", one_in(15) ? any_value(1) : "[" + join(count(0, 4), [&] { return cluster(); }) + "]");
    if (keep(0.1)) field("gameId", one_in(4) ? any_value(1) : string_value());
    if (keep(0.1)) field("seq", pick_number(true));
    if (keep(0.05)) field("extra", any_value(3));
    if (keep(0.95)) field("humanContext", one_in(15) ? any_value(1) : human());
    if (one_in(20)) field("timestamp", pick_number(true));  // duplicate key
    o += "}";
    if (one_in(25)) o.insert(uniform(0, o.size()), 1, "{}[],:\"x0\\"[uniform(0, 10)]);  // break the syntax
    if (one_in(30)) o = std::string(uniform(60, 70), '[') + o + std::string(uniform(60, 70), ']');
    return o;
  }

 private:
  bool keep(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  bool one_in(int n) { return uniform(0, static_cast<std::size_t>(n * calm_) - 1) == 0; }
  std::size_t uniform(std::size_t a, std::size_t b) { return std::uniform_int_distribution<std::size_t>(a, b)(rng_); }
  std::size_t count(std::size_t a, std::size_t b) { return uniform(a, b); }

  template <class F>
  std::string join(std::size_t n, F f) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += (i ? "," : "") + f();
    return s;
  }

  std::string name() {
    static const char* names[] = {"Pete",   "Kaiden",     "Diamond", "Goldie",
                                  "Oscar",  "Noobster",   "Ünïcode", "with \\\"quote\\\"",
                                  "tab\\t", "esc\\u00e9", "Zed"};
    if (one_in(40)) return std::string(uniform(250, 260), 'n');
    if (one_in(12)) return "";
    return names[uniform(0, 10)];
  }
  std::string string_value() {
    if (one_in(30)) return "\"" + std::string(uniform(250, 1030), 's') + "\"";
    if (one_in(30)) return "\"bad \xc3\x28 utf8\"";
    static const char* vals[] = {"npc", "player", "Running", "Dead", "Unknown Area", "", "g1", "12345"};
    return std::string("\"") + vals[uniform(0, 7)] + "\"";
  }
  std::string pick_number(bool integral_mostly) {
    switch (uniform(0, integral_mostly ? 9 : 12)) {
      case 0:
        return "-7";
      case 1:
        return "18446744073709551615";
      case 2:
        return "9223372036854775807";
      case 3:
        return "1.5";
      case 4:
        return "1e20";
      case 5:
        return "-0.0";
      case 6:
        return "4294967296";
      case 7:
        return "3.0";
      default:
        return std::to_string(static_cast<int>(uniform(0, 2000)) - 100) + (one_in(3) ? ".25" : "");
    }
  }
  std::string any_value(int depth) {
    switch (uniform(0, depth > 0 ? 7 : 4)) {
      case 0:
        return "null";
      case 1:
        return one_in(2) ? "true" : "false";
      case 2:
        return pick_number(false);
      case 3:
        return string_value();
      case 4:
        return "\"" + name() + "\"";
      case 5:
        return "[" + join(count(0, 3), [&] { return any_value(depth - 1); }) + "]";
      default:
        return "{" + join(count(0, 3), [&] { return "\"" + name() + "\":" + any_value(depth - 1); }) + "}";
    }
  }
  std::string names_array() {
    if (one_in(15)) return any_value(1);
    return "[" + join(count(0, 5), [&] { return one_in(20) ? any_value(0) : "\"" + name() + "\""; }) + "]";
  }
  std::string cluster() {
    if (one_in(20)) return any_value(1);
    std::vector<std::string> f;
    if (keep(0.9)) f.push_back("\"members\":" + names_array());
    if (keep(0.7)) f.push_back("\"npcs\":" + (one_in(10) ? any_value(0) : pick_number(true)));
    if (keep(0.7)) f.push_back("\"players\":" + (one_in(10) ? any_value(0) : pick_number(true)));
    if (keep(0.1)) f.push_back("\"formed\":" + any_value(2));
    if (keep(0.05)) f.push_back("\"members\":" + names_array());
    return "{" + join(f.size(), [&, i = std::size_t{0}]() mutable { return f[i++]; }) + "}";
  }
  std::string num_or_any() { return one_in(12) ? any_value(1) : pick_number(false); }
  std::string position() {
    if (one_in(12)) return any_value(1);
    std::vector<std::string> f;
    for (const char* k : {"x", "y", "z"})
      if (keep(0.95)) f.push_back(std::string("\"") + k + "\":" + num_or_any());
    if (keep(0.05)) f.push_back("\"x\":" + pick_number(false));
    if (keep(0.05)) f.push_back("\"w\":" + any_value(1));
    std::shuffle(f.begin(), f.end(), rng_);
    return "{" + join(f.size(), [&, i = std::size_t{0}]() mutable { return f[i++]; }) + "}";
  }
  std::string health() {
    if (one_in(12)) return any_value(1);
    std::vector<std::string> f;
    if (keep(0.8)) f.push_back("\"current\":" + num_or_any());
    if (keep(0.8)) f.push_back("\"max\":" + num_or_any());
    if (keep(0.6)) f.push_back("\"state\":" + (one_in(10) ? any_value(0) : string_value()));
    if (keep(0.6)) f.push_back("\"isMoving\":" + (one_in(10) ? any_value(0) : (one_in(2) ? "true" : "false")));
    if (keep(0.6)) f.push_back("\"velocity\":" + num_or_any());
    if (keep(0.05)) f.push_back("\"max\":" + num_or_any());
    std::shuffle(f.begin(), f.end(), rng_);
    return "{" + join(f.size(), [&, i = std::size_t{0}]() mutable { return f[i++]; }) + "}";
  }
  std::string entity() {
    if (one_in(25)) return any_value(1);
    std::vector<std::string> f;
    if (keep(0.8)) f.push_back("\"position\":" + position());
    if (keep(0.6)) f.push_back("\"health\":" + health());
    if (keep(0.5)) f.push_back("\"location\":" + (one_in(10) ? any_value(0) : string_value()));
    if (keep(0.4)) f.push_back("\"kind\":" + (one_in(10) ? any_value(0) : string_value()));
    if (keep(0.4))
      f.push_back("\"id\":" + (one_in(3) ? pick_number(true) : one_in(10) ? any_value(0) : string_value()));
    if (keep(0.3)) f.push_back("\"appearance\":" + (one_in(10) ? any_value(0) : string_value()));
    if (keep(0.5)) f.push_back("\"lastSeen\":" + num_or_any());
    if (keep(0.5))
      f.push_back("\"currentGroups\":" + (one_in(8) ? any_value(1) : "{\"members\":" + names_array() + ",\"npcs\":1}"));
    if (keep(0.5)) f.push_back("\"recentInteractions\":" + (one_in(8) ? any_value(1) : "[" + any_value(2) + "]"));
    if (keep(0.4)) f.push_back("\"relationships\":" + any_value(2));
    if (keep(0.1)) f.push_back("\"other\":" + any_value(2));
    if (keep(0.03)) f.push_back("\"position\":" + position());
    std::shuffle(f.begin(), f.end(), rng_);
    return "{" + join(f.size(), [&, i = std::size_t{0}]() mutable { return f[i++]; }) + "}";
  }
  std::string human() {
    return "{" + join(count(0, 5), [&] { return "\"" + name() + "\":" + entity(); }) + "}";
  }

  std::mt19937 rng_;
  int calm_;
};

void check_same_snapshot(const snapshot& a, const snapshot& b) {
  CHECK(a.game_id == b.game_id);
  CHECK(a.seq == b.seq);
  CHECK(a.timestamp == b.timestamp);
  CHECK(a.event_count == b.event_count);
  REQUIRE(a.clusters.size() == b.clusters.size());
  for (std::size_t i = 0; i < a.clusters.size(); ++i) {
    CHECK(a.clusters[i].members == b.clusters[i].members);
    CHECK(a.clusters[i].npcs == b.clusters[i].npcs);
    CHECK(a.clusters[i].players == b.clusters[i].players);
  }
  REQUIRE(a.entities.size() == b.entities.size());
  for (std::size_t i = 0; i < a.entities.size(); ++i) {
    const auto& x = a.entities[i];
    const auto& y = b.entities[i];
    CHECK(x.name == y.name);
    REQUIRE(x.position.has_value() == y.position.has_value());
    if (x.position) {
      CHECK(x.position->x == y.position->x);
      CHECK(x.position->y == y.position->y);
      CHECK(x.position->z == y.position->z);
    }
    REQUIRE(x.health.has_value() == y.health.has_value());
    if (x.health) {
      CHECK(x.health->current == y.health->current);
      CHECK(x.health->max == y.health->max);
      CHECK(x.health->state == y.health->state);
      CHECK(x.health->is_moving == y.health->is_moving);
      CHECK(x.health->velocity == y.health->velocity);
    }
    CHECK(x.location == y.location);
    CHECK(x.kind == y.kind);
    CHECK(x.id == y.id);
    CHECK(x.appearance == y.appearance);
    CHECK(x.last_seen == y.last_seen);
  }
}

void check_same_error(const codec_error& got, const codec_error& want) {
  CHECK(got.status == want.status);
  CHECK(got.code == want.code);
  CHECK(got.detail == want.detail);
  CHECK(got.offset == want.offset);
}

// parse_snapshot (fast path, then the reference on anything else) against the reference.
// Returns whether the fast path itself accepted the body.
bool check_same(const std::string& body, const std::string& header) {
  INFO("body: " << body);
  const auto want = parse_snapshot_reference(body, header);
  auto same = [&](const parsed<snapshot>& got) {
    REQUIRE(got.index() == want.index());
    if (const auto* e = std::get_if<codec_error>(&want)) {
      check_same_error(std::get<codec_error>(got), *e);
    } else {
      check_same_snapshot(std::get<snapshot>(got), std::get<snapshot>(want));
    }
  };
  same(parse_snapshot(body, header));
  // Parsed where it was read (the HTTP server's padded body buffer): bytes after the body,
  // whatever they hold, change nothing, and the body is left as it was.
  std::string buffer(body.size() + snapshot_body_padding, '"');
  std::copy(body.begin(), body.end(), buffer.begin());
  same(parse_snapshot(std::string_view(buffer.data(), body.size()), header, snapshot_body_padding));
  CHECK(std::string_view(buffer.data(), body.size()) == body);
  snapshot fast;
  const bool took_fast = read_snapshot_fast(body, header, fast);
  if (took_fast) {
    REQUIRE(std::holds_alternative<snapshot>(want));  // the fast path never accepts a bad body
    check_same_snapshot(fast, std::get<snapshot>(want));
  }
  return took_fast;
}

}  // namespace

TEST_CASE("snapshot_reader: the original fixture and the extended example take the fast path unchanged") {
  for (const char* f : {"/fixtures/original/sample_snapshot.json", "/fixtures/examples/snapshot_with_positions.json"}) {
    const std::string body = slurp(std::string(ORCH_SHARED_DIR) + f);
    REQUIRE(!body.empty());
    CHECK(check_same(body, ""));
    CHECK(check_same(body, "hdr-game"));
  }
}

TEST_CASE("snapshot_reader: random bodies give the reference decoder's snapshot or error exactly") {
  std::size_t fast = 0, good = 0, bad = 0;
  for (std::uint32_t seed = 1; seed <= 4000; ++seed) {
    body_maker m(seed, seed % 2 ? 1 : 8);
    const std::string body = m.make();
    const std::string header = seed % 3 == 0 ? "hdr" : seed % 97 == 0 ? std::string(300, 'h') : "";
    if (check_same(body, header)) ++fast;
    if (std::holds_alternative<snapshot>(parse_snapshot_reference(body, header)))
      ++good;
    else
      ++bad;
  }
  // The generator must exercise both sides, and the fast path must take most good bodies.
  CHECK(good > 120);
  CHECK(bad > 1000);
  CHECK(fast * 10 >= good * 8);
}

TEST_CASE("snapshot_reader: duplicate keys and deep nesting go to the reference decoder") {
  snapshot s;
  const std::string dup = R"({"timestamp":1,"timestamp":2,"events":[],"clusters":[],"humanContext":{}})";
  CHECK_FALSE(read_snapshot_fast(dup, "", s));
  CHECK(std::get<snapshot>(parse_snapshot(dup, "")).timestamp == 1);  // the reference takes the first
  const std::string deep = R"({"timestamp":1,"events":[)" + std::string(70, '[') + std::string(70, ']') +
                           R"(],"clusters":[],"humanContext":{}})";
  CHECK_FALSE(read_snapshot_fast(deep, "", s));
  CHECK(std::get<codec_error>(parse_snapshot(deep, "")).code == "invalid_json");
  // The fast path descends recursively: nesting far past the limit must stop at the limit
  // (no deep recursion), on both the in-situ (ASCII) and the validating (non-ASCII) parse.
  const std::string very_deep = R"({"timestamp":1,"events":[)" + std::string(200000, '[');
  CHECK_FALSE(read_snapshot_fast(very_deep, "", s));
  CHECK_FALSE(read_snapshot_fast(very_deep + "\xc3\xa9", "", s));
  CHECK(std::get<codec_error>(parse_snapshot(very_deep, "")).code == "invalid_json");
}

namespace {

// A body larger than the tests' bodies with every optional field set, and strings past the
// small-string buffer: what a refill must overwrite or reset, field by field.
std::string full_body(std::size_t entities, std::size_t clusters) {
  std::string o = R"({"gameId":"dirty-game-with-a-long-name","seq":99,"timestamp":123456,"events":[1,2,3,4,5],)";
  o += R"("clusters":[)";
  for (std::size_t c = 0; c < clusters; ++c) {
    o += c ? "," : "";
    o += R"({"members":[)";
    for (std::size_t m = 0; m < 12; ++m)
      o += (m ? "," : "") + std::string("\"dirty-member-name-") + std::to_string(m) + "\"";
    o += R"(],"npcs":7,"players":5})";
  }
  o += R"(],"humanContext":{)";
  for (std::size_t e = 0; e < entities; ++e) {
    o += e ? "," : "";
    o += "\"dirty-entity-with-a-long-name-" + std::to_string(e) + "\":";
    o += R"({"kind":"player","id":"dirty-id-longer-than-fifteen","appearance":"a dirty appearance, long enough",)"
         R"("position":{"x":1.5,"y":2.5,"z":3.5},"location":"a dirty location, long enough",)"
         R"("lastSeen":1737874917.5,"health":{"current":7,"max":9,"state":"a dirty health state",)"
         R"("isMoving":true,"velocity":4.5}})";
  }
  o += "}}";
  return o;
}

// A snapshot filled from full_body: every optional set, more entities and clusters than any
// test body.
snapshot dirty_snapshot() {
  static const std::string body = full_body(40, 8);
  snapshot s;
  REQUIRE(read_snapshot_fast(body, "", s));
  REQUIRE(s.seq.has_value());
  REQUIRE(s.entities.size() == 40);
  for (const auto& e : s.entities)
    REQUIRE((e.position && e.health && e.location && e.kind && e.id && e.appearance && e.last_seen &&
             e.health->current && e.health->max && e.health->state && e.health->is_moving && e.health->velocity));
  return s;
}

// Refilling `dirty` (and `chain`, which carries whatever the previous bodies left in it, good or
// half-filled) gives what the reference decoder gives, whenever the fast path takes the body;
// it takes the same bodies as with a fresh snapshot.
void check_refill(const std::string& body, const std::string& header, snapshot& chain) {
  INFO("body: " << body);
  snapshot fresh;
  const bool took_fast = read_snapshot_fast(body, header, fresh);
  snapshot dirty = dirty_snapshot();
  REQUIRE(read_snapshot_fast(body, header, dirty) == took_fast);
  REQUIRE(read_snapshot_fast(body, header, chain) == took_fast);
  if (!took_fast) return;
  const auto want = parse_snapshot_reference(body, header);
  REQUIRE(std::holds_alternative<snapshot>(want));
  check_same_snapshot(dirty, std::get<snapshot>(want));
  check_same_snapshot(chain, std::get<snapshot>(want));
}

}  // namespace

TEST_CASE("snapshot_reader: a dirty snapshot refilled from a fixture is exactly a fresh parse") {
  snapshot chain = dirty_snapshot();
  for (const char* f : {"/fixtures/original/sample_snapshot.json", "/fixtures/examples/snapshot_with_positions.json"}) {
    const std::string body = slurp(std::string(ORCH_SHARED_DIR) + f);
    REQUIRE(!body.empty());
    snapshot probe;
    REQUIRE(read_snapshot_fast(body, "", probe));  // the fixtures take the fast path
    check_refill(body, "", chain);
    check_refill(body, "hdr-game", chain);
  }
}

TEST_CASE("snapshot_reader: a dirty snapshot refilled from random bodies is exactly a fresh parse") {
  snapshot chain = dirty_snapshot();
  std::size_t fast = 0;
  for (std::uint32_t seed = 1; seed <= 4000; ++seed) {
    body_maker m(seed, seed % 2 ? 1 : 8);
    const std::string body = m.make();
    const std::string header = seed % 3 == 0 ? "hdr" : "";
    check_refill(body, header, chain);
    snapshot probe;
    if (read_snapshot_fast(body, header, probe)) ++fast;
  }
  CHECK(fast > 100);  // the refill was checked on many good bodies
}

TEST_CASE("snapshot_reader: snapshot_pool::parse answers parse_snapshot's snapshot or error exactly") {
  snapshot_pool pool(1);  // one snapshot, refilled by every body (good, bad, or the reference's)
  std::size_t good = 0;
  for (std::uint32_t seed = 1; seed <= 2000; ++seed) {
    body_maker m(seed, seed % 2 ? 1 : 8);
    const std::string body = seed % 50 == 0 ? full_body(3, 2) : m.make();
    const std::string header = seed % 3 == 0 ? "hdr" : "";
    INFO("body: " << body);
    const auto want = parse_snapshot_reference(body, header);
    const auto got = pool.parse(body, header);
    REQUIRE(got.index() == want.index());
    if (const auto* e = std::get_if<codec_error>(&want)) {
      check_same_error(std::get<codec_error>(got), *e);
    } else {
      ++good;
      check_same_snapshot(*std::get<std::shared_ptr<snapshot>>(got), std::get<snapshot>(want));
    }
  }
  CHECK(good > 60);
  CHECK(pool.stats().reused > 1900);  // one object went round
}

// A refilled snapshot keeps its vectors' room for the next body of about the same size, but not
// a large game's room while a small game's snapshot waits in the queue.
TEST_CASE("snapshot_reader: a refill keeps room for a similar body and gives back room far beyond it") {
  snapshot s;
  REQUIRE(read_snapshot_fast(full_body(400, 40), "", s));
  REQUIRE(s.entities.size() == 400);
  REQUIRE(read_snapshot_fast(full_body(380, 38), "", s));  // about the same: room kept
  CHECK(s.entities.size() == 380);
  CHECK(s.entities.capacity() >= 400);
  CHECK(s.clusters.capacity() >= 40);
  REQUIRE(read_snapshot_fast(full_body(5, 2), "", s));  // far smaller: room given back
  CHECK(s.entities.size() == 5);
  CHECK(s.entities.capacity() <= 4 * 5 + 16);
  CHECK(s.clusters.size() == 2);
  CHECK(s.clusters.capacity() <= 4 * 2 + 16);
}
