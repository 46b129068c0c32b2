// Tests for the pure conversation policies: cooldown, rate_window, echo_filter,
// notice_folding, turn_taking.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "policies/clock.hpp"
#include "policies/cooldown.hpp"
#include "policies/echo_filter.hpp"
#include "policies/notice_folding.hpp"
#include "policies/rate_window.hpp"
#include "policies/turn_taking.hpp"

using namespace orch::policies;
using namespace std::chrono_literals;

namespace {
turn_candidate cand(std::string name, std::string id, double distance = 0,
                    std::optional<time_point> last = std::nullopt, time_point ready_at = time_point::min(),
                    bool busy = false) {
  turn_candidate c;
  c.name = std::move(name);
  c.id = std::move(id);
  c.distance = distance;
  c.last_spoke = last;
  c.ready_at = ready_at;
  c.busy = busy;
  return c;
}
}  // namespace

TEST_CASE("cooldown: a key is not ready until its period has passed") {
  manual_clock clk;
  cooldown cd(5s);
  CHECK(cd.ready("pete", clk.now()));
  CHECK_FALSE(cd.last("pete").has_value());
  cd.start("pete", clk.now());
  CHECK_FALSE(cd.ready("pete", clk.now()));
  CHECK(cd.ready_at("pete") == clk.now() + 5s);
  clk.advance(4999ms);
  CHECK_FALSE(cd.ready("pete", clk.now()));
  clk.advance(1ms);
  CHECK(cd.ready("pete", clk.now()));
  CHECK(cd.ready("other", clk.now()));
  cd.prune(clk.now());
  CHECK(cd.size() == 0);
}

TEST_CASE("rate_window: excess events in a minute are refused, then allowed again") {
  manual_clock clk;
  rate_window rw(3);
  CHECK(rw.allow("p", clk.now()));
  clk.advance(10s);
  CHECK(rw.allow("p", clk.now()));
  CHECK(rw.allow("p", clk.now()));
  CHECK_FALSE(rw.allow("p", clk.now()));  // 4th within the minute
  CHECK(rw.allow("q", clk.now()));        // other keys unaffected
  CHECK(rw.count("p", clk.now()) == 3);
  clk.advance(50s);  // first event now 60 s old: out of the window
  CHECK(rw.allow("p", clk.now()));
  CHECK_FALSE(rw.allow("p", clk.now()));
  clk.advance(61s);
  rw.prune(clk.now());
  CHECK(rw.keys() == 0);
}

TEST_CASE("rate_window: random events on three keys agree with a brute-force sliding window") {
  manual_clock clk;
  constexpr std::uint32_t limit = 5;
  rate_window rw(limit, 10s);
  std::map<std::string, std::vector<time_point>> accepted;  // the reference: every accepted event
  std::mt19937 rng(7);
  const std::array<std::string, 3> keys{"a", "b", "c"};
  std::size_t refused = 0;
  for (int i = 0; i < 3000; ++i) {
    clk.advance(std::chrono::milliseconds(rng() % 2500));
    const auto& k = keys[rng() % keys.size()];
    auto& ref = accepted[k];
    const auto in_window = std::count_if(ref.begin(), ref.end(), [&](time_point t) { return t + 10s > clk.now(); });
    const bool expect = in_window < static_cast<std::ptrdiff_t>(limit);
    REQUIRE(rw.allow(k, clk.now()) == expect);
    if (expect) ref.push_back(clk.now());
    refused += expect ? 0 : 1;
    CHECK(rw.count(k, clk.now()) == std::min<std::ptrdiff_t>(in_window + (expect ? 1 : 0), limit));
  }
  CHECK(refused > 0);  // the walk did reach the limit
  CHECK(rw.keys() == keys.size());
}

TEST_CASE("echo_filter: same text from the same speaker within a second is an echo") {
  manual_clock clk;
  echo_filter ef;
  CHECK_FALSE(ef.is_echo("Pete", "Hello there", clk.now()));
  clk.advance(500ms);
  CHECK(ef.is_echo("Pete", "Hello there", clk.now()));
  CHECK_FALSE(ef.is_echo("Goldie", "Hello there", clk.now()));  // another speaker
  CHECK_FALSE(ef.is_echo("Pete", "Hello again", clk.now()));    // other text
  clk.advance(1s);
  CHECK_FALSE(ef.is_echo("Pete", "Hello again", clk.now()));  // a second later: not an echo
}

TEST_CASE("notice_folding: text for one and several newcomers") {
  CHECK(join_names_prose({"A"}) == "A");
  CHECK(join_names_prose({"A", "B"}) == "A and B");
  CHECK(join_names_prose({"A", "B", "C"}) == "A, B and C");
  CHECK(format_entry_notice({"Diamond", "Kaiden"}, {"Diamond", "Kaiden", "Goldie"}, "Cafe") ==
        "[SYSTEM] Diamond and Kaiden have entered your range. You are now in speaking range with Diamond, Kaiden "
        "and Goldie at Cafe. Please check context memory and group block for recent interactions.");
  CHECK(format_entry_notice({"Diamond"}, {"Diamond"}, "") ==
        "[SYSTEM] Diamond has entered your range. You are now in speaking range with Diamond. Please check context "
        "memory and group block for recent interactions.");
}

TEST_CASE("notice_folding: never eligible before the block lists the newcomer") {
  manual_clock clk;
  notice_folding nf(30s);
  auto r = nf.on_joined("Pete", {"Diamond", "Pete"}, clk.now());
  CHECK(r.added == 1);  // never told of itself
  CHECK_FALSE(nf.has_eligible("Pete"));
  CHECK(nf.take("Pete", clk.now()).empty());
  CHECK_FALSE(nf.on_synced("Pete", {"Goldie"}, clk.now()));  // block without Diamond
  CHECK_FALSE(nf.has_eligible("Pete"));
  clk.advance(200ms);
  CHECK(nf.on_synced("Pete", {"Goldie", "Diamond"}, clk.now()));
  REQUIRE(nf.eligible_since("Pete").has_value());
  CHECK(*nf.eligible_since("Pete") == clk.now());
  auto names = nf.take("Pete", clk.now());
  REQUIRE(names.size() == 1);
  CHECK(names[0] == "Diamond");
  CHECK_FALSE(nf.has_eligible("Pete"));
}

TEST_CASE("notice_folding: several joins fold into one notice - cooldown per NPC and newcomer") {
  manual_clock clk;
  notice_folding nf(30s);
  CHECK(nf.on_joined("Pete", {"Diamond"}, clk.now()).folded == 0);
  auto r = nf.on_joined("Pete", {"Kaiden", "Diamond"}, clk.now());
  CHECK(r.added == 1);   // Diamond already pending
  CHECK(r.folded == 1);  // Kaiden folded into the pending notice
  nf.on_synced("Pete", {"Diamond", "Kaiden"}, clk.now());
  auto names = nf.take("Pete", clk.now());
  CHECK(names == std::vector<std::string>{"Diamond", "Kaiden"});
  // Diamond leaves and comes back within the cooldown: no second notice.
  clk.advance(10s);
  r = nf.on_joined("Pete", {"Diamond"}, clk.now());
  CHECK(r.added == 0);
  CHECK(r.cooling == 1);
  // Another NPC may still be told of Diamond.
  CHECK(nf.on_joined("Goldie", {"Diamond"}, clk.now()).added == 1);
  clk.advance(20s);  // 30 s since Pete was told
  CHECK(nf.on_joined("Pete", {"Diamond"}, clk.now()).added == 1);
  // The block already lists Diamond (synced before the diff arrived): eligible at once.
  CHECK(nf.has_eligible("Pete"));
}

TEST_CASE("notice_folding: a newcomer who left before the notice is not announced") {
  manual_clock clk;
  notice_folding nf(30s);
  nf.on_joined("Pete", {"Diamond", "Kaiden"}, clk.now());
  nf.on_synced("Pete", {"Diamond"}, clk.now());
  CHECK(nf.has_eligible("Pete"));
  nf.on_left("Pete", {"Diamond"});
  CHECK_FALSE(nf.has_eligible("Pete"));  // Kaiden is pending but not synced
  nf.on_synced("Pete", {"Kaiden"}, clk.now());
  CHECK(nf.take("Pete", clk.now()) == std::vector<std::string>{"Kaiden"});
}

TEST_CASE("turn_taking: addressing by v3 id, target, then name in the text") {
  std::vector<turn_candidate> c{cand("Pete", "npc-pete"), cand("Goldie", "npc-goldie"), cand("Kaiden", "")};
  CHECK(find_addressed(c, "npc-goldie", "Pete", "Kaiden?") == std::optional<std::size_t>{1});
  CHECK(find_addressed(c, "", "pete", "Kaiden?") == std::optional<std::size_t>{0});
  CHECK(find_addressed(c, "", "npc-goldie", "") == std::optional<std::size_t>{1});
  CHECK(find_addressed(c, "", "", "hey kaiden, and Pete") == std::optional<std::size_t>{2});
  CHECK(find_addressed(c, "", "", "Pete's shop is nice") == std::optional<std::size_t>{0});
  CHECK_FALSE(find_addressed(c, "", "", "Peter and Goldies").has_value());  // not whole words
  CHECK_FALSE(find_addressed(c, "", "nobody", "hello").has_value());
  CHECK(contains_word("Hello, Pete!", "pete"));
  CHECK_FALSE(contains_word("Competent", "pete"));
}

TEST_CASE("turn_taking: addressed first, at most max_responders, ranked by quiet then distance") {
  manual_clock clk;
  const auto now = clk.now();
  std::vector<turn_candidate> c{
      cand("Pete", "", 5.0, now - 2s),        // spoke 2 s ago
      cand("Goldie", "", 8.0, std::nullopt),  // never spoke, far
      cand("Kaiden", "", 3.0, std::nullopt),  // never spoke, near
      cand("Diamond", "", 1.0, now - 60s),    // spoke long ago
  };
  auto s = pick_responders(c, std::optional<std::size_t>{0}, 2, now);
  REQUIRE(s.responders.size() == 2);
  CHECK(s.responders[0].index == 0);
  CHECK(s.responders[0].addressed);
  CHECK(s.responders[1].index == 2);  // never spoke, nearer than Goldie
  CHECK_FALSE(s.addressed_waits);

  s = pick_responders(c, std::nullopt, 3, now);
  REQUIRE(s.responders.size() == 3);
  CHECK(s.responders[0].index == 2);
  CHECK(s.responders[1].index == 1);
  CHECK(s.responders[2].index == 3);
}

TEST_CASE("turn_taking: cooling NPCs are skipped unless addressed - the addressed one waits") {
  manual_clock clk;
  const auto now = clk.now();
  std::vector<turn_candidate> c{
      cand("Pete", "", 1.0, now - 1s, now + 4s),
      cand("Goldie", "", 2.0, now - 1s, now + 4s),
      cand("Kaiden", "", 3.0, std::nullopt, time_point::min(), true),  // busy
      cand("Diamond", "", 4.0, std::nullopt),
  };
  auto s = pick_responders(c, std::optional<std::size_t>{0}, 2, now);
  REQUIRE(s.responders.size() == 2);
  CHECK(s.responders[0].index == 0);
  CHECK(s.addressed_waits);
  CHECK(s.responders[0].ready_at == now + 4s);
  CHECK(s.responders[1].index == 3);
  CHECK(s.cooldown_holds == 1);  // Kaiden (busy); the cap is reached before Goldie

  s = pick_responders(c, std::nullopt, 4, now);
  REQUIRE(s.responders.size() == 1);
  CHECK(s.responders[0].index == 3);
  CHECK(s.cooldown_holds == 3);
}
