// Tests policies/group_update.cpp and policies/entity_state.cpp with a manual clock.
#include <doctest/doctest.h>

#include <limits>

#include "policies/entity_state.hpp"
#include "policies/group_update.hpp"

using namespace orch::policies;
using namespace std::chrono_literals;
using S = std::vector<std::string>;

namespace {

struct fixture {
  manual_clock clock;
  group_update_options opts{30s, 300s};
  npc_group_state st;
  void write(update_reason r, const S& m, std::string loc, std::string act) {
    record_write(st, r, m, loc, act, 11, 22, clock.now());
  }
};

}  // namespace

TEST_CASE("group update: no cached state means changed - then a cache hit") {
  fixture f;
  CHECK(decide_group_update(f.st, S{"A"}, "Cafe", "Idle", f.clock.now(), f.opts) == update_reason::changed);
  f.write(update_reason::changed, S{"A"}, "Cafe", "Idle");
  f.clock.advance(3s);
  CHECK(decide_group_update(f.st, S{"A"}, "Cafe", "Idle", f.clock.now(), f.opts) == update_reason::none);
}

TEST_CASE("group update: members, location or action changes are writes") {
  fixture f;
  f.write(update_reason::changed, S{"A"}, "Cafe", "Idle");
  f.clock.advance(1s);
  CHECK(decide_group_update(f.st, S{"A", "B"}, "Cafe", "Idle", f.clock.now(), f.opts) == update_reason::changed);
  CHECK(decide_group_update(f.st, S{"A"}, "Park", "Idle", f.clock.now(), f.opts) == update_reason::changed);
  CHECK(decide_group_update(f.st, S{"A"}, "Cafe", "Moving", f.clock.now(), f.opts) == update_reason::changed);
}

TEST_CASE("group update: stale after stale_after since the last write, not before") {
  fixture f;
  f.write(update_reason::changed, S{"A"}, "Cafe", "Idle");
  f.clock.advance(29s);
  CHECK(decide_group_update(f.st, S{"A"}, "Cafe", "Idle", f.clock.now(), f.opts) == update_reason::none);
  f.clock.advance(1s);
  CHECK(decide_group_update(f.st, S{"A"}, "Cafe", "Idle", f.clock.now(), f.opts) == update_reason::stale);
  f.write(update_reason::stale, S{"A"}, "Cafe", "Idle");
  CHECK(decide_group_update(f.st, S{"A"}, "Cafe", "Idle", f.clock.now(), f.opts) == update_reason::none);
}

TEST_CASE("group update: forced at force_refresh even while writes keep it fresh") {
  fixture f;
  f.write(update_reason::changed, S{"A"}, "Cafe", "Idle");
  for (int i = 0; i < 10; ++i) {
    f.clock.advance(29s);
    f.write(update_reason::changed, S{"A"}, "Cafe", i % 2 ? "Idle" : "Moving");
  }
  f.clock.advance(9s);  // 299 s since the first (forced) write
  CHECK(decide_group_update(f.st, S{"A"}, "Cafe", f.st.action, f.clock.now(), f.opts) == update_reason::none);
  f.clock.advance(1s);
  CHECK(decide_group_update(f.st, S{"A"}, "Cafe", f.st.action, f.clock.now(), f.opts) == update_reason::forced);
  f.write(update_reason::forced, S{"A"}, "Cafe", f.st.action);
  CHECK(f.st.last_forced == f.clock.now());
}

TEST_CASE("group update: a failed sync is retried at the next snapshot") {
  fixture f;
  f.write(update_reason::changed, S{"A"}, "Cafe", "Idle");
  f.st.sync_failed = true;
  CHECK(decide_group_update(f.st, S{"A"}, "Cafe", "Idle", f.clock.now(), f.opts) == update_reason::retry);
  f.write(update_reason::retry, S{"A"}, "Cafe", "Idle");
  CHECK_FALSE(f.st.sync_failed);
}

TEST_CASE("group update: a changed write with an unchanged hash is skipped - forced/stale are not") {
  CHECK_FALSE(block_needs_write(update_reason::changed, 7, 7));
  CHECK(block_needs_write(update_reason::changed, 7, 8));
  CHECK(block_needs_write(update_reason::stale, 7, 7));
  CHECK(block_needs_write(update_reason::forced, 7, 7));
  CHECK_FALSE(block_needs_write(update_reason::none, 7, 8));
  fixture f;
  f.write(update_reason::changed, S{"A"}, "Cafe", "Idle");
  const auto t = f.st.last_updated;
  f.clock.advance(5s);
  record_noop(f.st, S{"B"}, "Cafe", "Idle");
  CHECK(f.st.members == S{"B"});
  CHECK(f.st.last_updated == t);
}

TEST_CASE("entity state: action from health and motion") {
  CHECK(action_from_health({100.0, 100.0, "Dead", false, 0.0}, false) == entity_action::dead);
  CHECK(action_from_health({0.0, 100.0, {}, {}, {}}, false) == entity_action::dead);
  CHECK(action_from_health({29.0, 100.0, {}, true, {}}, false) == entity_action::severely_injured);
  CHECK(action_from_health({30.0, 100.0, {}, {}, {}}, false) == entity_action::injured);
  CHECK(action_from_health({69.0, 100.0, {}, {}, {}}, false) == entity_action::injured);
  CHECK(action_from_health({70.0, 100.0, {}, true, {}}, false) == entity_action::moving);
  CHECK(action_from_health({70.0, 100.0, {}, false, 5.0}, true) == entity_action::idle);
  CHECK(action_from_health({{}, {}, {}, {}, 8.2}, false) == entity_action::moving);
  CHECK(action_from_health({}, true) == entity_action::moving);
  CHECK(action_from_health({}, false) == entity_action::idle);
  CHECK(action_from_health({60.0, 0.0, {}, {}, {}}, false) == entity_action::injured);  // max 0 -> 100
  CHECK(to_string(entity_action::severely_injured) == "Severely injured");
}

TEST_CASE("entity state: movement threshold, kind and status text") {
  CHECK_FALSE(moved_beyond(0.05, 0.05, 0.0, 0.1));
  CHECK(moved_beyond(0.1, 0.0, 0.0, 0.1));
  CHECK(classify(true, "player") == entity_kind::npc);
  CHECK(classify(false, "npc") == entity_kind::npc);
  CHECK(classify(false, std::nullopt) == entity_kind::player);
  CHECK(status_text(100.0, "Cafe", entity_action::idle) == "health: 100 | location: Cafe | current_action: Idle");
  CHECK(status_text(std::nullopt, "", entity_action::moving) ==
        "health: unknown | location: Unknown | current_action: Moving");
  // Written over whatever the string held, the same text.
  std::string out = "an earlier, much longer status text that must not leave anything behind here";
  status_text_into(out, -2.5, "Town Plaza", entity_action::dead);
  CHECK(out == status_text(-2.5, "Town Plaza", entity_action::dead));
  CHECK(out == "health: -3 | location: Town Plaza | current_action: Dead");
  status_text_into(out, 99.5, "", entity_action::idle);
  CHECK(out == "health: 100 | location: Unknown | current_action: Idle");
  status_text_into(out, std::numeric_limits<double>::infinity(), "Cafe", entity_action::moving);
  CHECK(out == "health: unknown | location: Cafe | current_action: Moving");
}
