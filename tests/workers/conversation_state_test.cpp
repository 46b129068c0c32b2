// Decision tests of the conversation core, without dispatcher, Letta or timers: every call
// takes `now` from a manual clock and the returned effects are inspected.
#include <doctest/doctest.h>

#include "policies/clock.hpp"
#include "tests/workers/conversation_test_support.hpp"
#include "workers/conversation_state.hpp"

using namespace orch;
using namespace orch::workers;
using namespace orch::workers::testing;
using namespace std::chrono_literals;

namespace {

struct harness {
  policies::conversation_options opts;
  fake_views views;
  metrics::registry metrics;
  policies::manual_clock clk;
  std::unique_ptr<conversation_state> st;
  int next_turn = 1;

  explicit harness(policies::conversation_options o = {}) : opts(o) {
    views.set(make_view("g", {{"Ann", false, 0, "c1"},
                              {"Pete", true, 2, "c1"},
                              {"Goldie", true, 4, "c1"},
                              {"Kaiden", true, 6, "c1"},
                              {"Zed", false, 100, ""}}));
    st = std::make_unique<conversation_state>(opts, views, metrics);
  }
  chat_turn turn(const std::string& text, const std::string& speaker = "Ann", const std::string& target = "") {
    chat_turn t;
    t.turn_id = "t" + std::to_string(next_turn++);
    t.game_id = "g";
    t.speaker_name = speaker;
    t.text = text;
    t.target = target;
    t.system_notice = text.starts_with("[SYSTEM]");
    return t;
  }
  // Starts a job; returns its Letta call (REQUIREs that it started).
  conversation_effects::call start(std::uint64_t job) {
    bool started = false;
    auto fx = st->on_start(job, clk.now(), started);
    REQUIRE(started);
    REQUIRE(fx.calls.size() == 1);
    return fx.calls[0];
  }
  conversation_effects reply(std::uint64_t job, const std::string& text, bool ok = true) {
    letta_result r;
    r.ok = ok;
    letta_reply rep;
    rep.text = text;
    return st->on_reply(job, r, rep, clk.now());
  }
  double counter(const std::string& name, const metrics::labels& l = {}) const { return metrics.value(name, l); }
};

bool has_event(const conversation_effects& fx, const std::string& needle) {
  for (const auto& e : fx.events) {
    std::string json;
    queues::render_event(1, e.body, json);
    if (json.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("conversation_state: the addressed NPC answers first, at most max_responders answer") {
  harness h;
  auto fx = h.st->on_turn(h.turn("Hey Kaiden, how are you?"), h.clk.now());
  REQUIRE(fx.submits.size() == 2);
  CHECK(fx.submits[0].agent_id == "agent-Kaiden");
  CHECK(fx.submits[0].kind == queues::message_kind::npc_reply);
  CHECK(fx.submits[1].agent_id == "agent-Pete");  // nearest of those who never spoke
  CHECK(h.counter("npcorch_conversation_turns_total", {{"kind", "player"}}) == 1);
  auto call = h.start(fx.submits[0].job);
  CHECK(call.agent_id == "agent-Kaiden");
  REQUIRE(call.messages.size() == 1);
  CHECK(call.messages[0].role == "user");
  CHECK(call.messages[0].name == "Ann");
  CHECK(call.messages[0].content == "Hey Kaiden, how are you?");
  // Goldie did not answer: she hears the line as context for her next call.
  CHECK(h.st->context_lines("g", "Goldie") == 1);
  CHECK(h.st->context_lines("g", "Kaiden") == 0);
}

TEST_CASE("conversation_state: npc_typing goes out the moment the reply call starts, before the message") {
  harness h;
  auto fx = h.st->on_turn(h.turn("Hello Pete"), h.clk.now());
  REQUIRE(fx.submits.size() == 2);
  CHECK_FALSE(has_event(fx, "npc_typing"));  // queued, not started
  bool started = false;
  auto f0 = h.st->on_start(fx.submits[0].job, h.clk.now(), started);
  REQUIRE(started);
  REQUIRE(f0.calls.size() == 1);
  CHECK(has_event(
      f0,
      R"("type":"npc_typing","npc":"Pete","clusterId":"c1","audience":["Ann","Goldie","Kaiden"],"inReplyTo":"t1")"));
  // The second responder parks for the floor: no typing until its call starts.
  auto f1 = h.st->on_start(fx.submits[1].job, h.clk.now(), started);
  CHECK_FALSE(started);
  CHECK_FALSE(has_event(f1, "npc_typing"));
  auto r = h.reply(fx.submits[0].job, "Hi Ann!");
  CHECK_FALSE(has_event(r, "npc_typing"));
  REQUIRE(r.submits.size() == 1);
  auto f2 = h.st->on_start(r.submits[0].job, h.clk.now(), started);
  REQUIRE(started);
  CHECK(has_event(f2, R"("type":"npc_typing","npc":"Goldie")"));
}

TEST_CASE("conversation_state: reply latency is a player turn's arrival to its first npc_message") {
  harness h;
  auto& hist = h.metrics.get_histogram("npcorch_reply_latency_seconds", "");
  auto fx = h.st->on_turn(h.turn("Hello Pete"), h.clk.now());
  REQUIRE(fx.submits.size() == 2);
  h.clk.advance(100ms);
  h.start(fx.submits[0].job);
  h.clk.advance(500ms);
  h.reply(fx.submits[0].job, "Hi Ann!");
  CHECK(hist.count() == 1);
  CHECK(hist.sum() == doctest::Approx(0.6));
  h.start(fx.submits[1].job);
  h.clk.advance(500ms);
  h.reply(fx.submits[1].job, "Hello.");
  CHECK(hist.count() == 1);  // only the first answer of a turn is timed
}

TEST_CASE("conversation_state: a reply carries the group inline when the NPC's block is behind") {
  harness h;
  // Pete's block lists the whole group: nothing inline.
  h.st->on_block_synced({"g", "Pete", {"Kaiden", "Ann", "Goldie"}}, h.clk.now());
  auto fx = h.st->on_turn(h.turn("Pete?"), h.clk.now());
  auto call = h.start(fx.submits[0].job);
  REQUIRE(call.messages.size() == 1);
  h.reply(fx.submits[0].job, "Yes?");
  h.st->on_dropped(fx.submits[1].job, "shed", h.clk.now());
  // Goldie left the block's view of the group (the block lists only Ann): the reply says so.
  h.st->on_block_synced({"g", "Pete", {"Ann"}}, h.clk.now());
  fx = h.st->on_turn(h.turn("Pete, who is here?"), h.clk.now());
  call = h.start(fx.submits[0].job);
  REQUIRE(call.messages.size() == 2);
  CHECK(call.messages[0].role == "system");
  CHECK(call.messages[0].content == "[context] Near you now: Ann, Goldie, Kaiden at Cafe");
  CHECK(call.messages[1].content == "Pete, who is here?");
  CHECK(h.counter("npcorch_conversation_inline_context_total") == 1);
}

TEST_CASE("conversation_state: the floor lets max_concurrent_speakers generate - others wait in order") {
  harness h;
  auto fx = h.st->on_turn(h.turn("Hello Pete"), h.clk.now());
  REQUIRE(fx.submits.size() == 2);
  const auto pete = fx.submits[0].job, other = fx.submits[1].job;
  bool started = false;
  auto f0 = h.st->on_start(pete, h.clk.now(), started);
  REQUIRE(started);
  CHECK(has_event(f0, R"("type":"conversation_state")"));
  CHECK(has_event(f0, R"("floor":"Pete")"));
  auto f1 = h.st->on_start(other, h.clk.now(), started);
  CHECK_FALSE(started);
  CHECK(f1.calls.empty());
  CHECK(h.counter("npcorch_conversation_floor_waits_total") == 1);
  CHECK(h.st->parked() == 1);
  CHECK(h.counter("npcorch_conversations_active") == 1);
  h.clk.advance(1s);
  auto r = h.reply(pete, "Hi Ann!");
  CHECK(has_event(
      r,
      R"("type":"npc_message","npc":"Pete","text":"Hi Ann!","conversationId":"conv-c1","clusterId":"c1","audience":["Ann","Goldie","Kaiden"],"inReplyTo":"t1")"));
  CHECK(h.counter("npcorch_conversation_replies_total") == 1);
  // The waiting responder is resubmitted with the floor reserved for it.
  REQUIRE(r.submits.size() == 1);
  CHECK(r.submits[0].job == other);
  auto call = h.start(other);
  // It hears Pete's line as context before the turn itself; Pete never hears himself.
  REQUIRE(call.messages.size() == 2);
  CHECK(call.messages[0].name == "Pete");
  CHECK(call.messages[0].content == "Hi Ann!");
  CHECK(call.messages[1].name == "Ann");
  CHECK(h.st->context_lines("g", "Pete") == 0);
}

TEST_CASE("conversation_state: an addressed player is answered while another NPC holds the floor") {
  policies::conversation_options o;
  o.max_responders = 1;
  o.max_concurrent_speakers = 1;
  harness h(o);
  auto fx = h.st->on_turn(h.turn("Goldie?"), h.clk.now());
  REQUIRE(fx.submits.size() == 1);
  const auto goldie = fx.submits[0].job;
  h.start(goldie);  // Goldie holds the cluster's only speaker slot
  fx = h.st->on_turn(h.turn("Pete, a word?"), h.clk.now());
  REQUIRE(fx.submits.size() == 1);
  CHECK(fx.submits[0].agent_id == "agent-Pete");
  bool started = false;
  auto s = h.st->on_start(fx.submits[0].job, h.clk.now(), started);
  CHECK(started);  // Pete's own conversation is free: he answers now, typing at once
  CHECK(has_event(s, R"("type":"npc_typing","npc":"Pete")"));
  CHECK(h.counter("npcorch_conversation_floor_waits_total") <= 0);
  // Unprompted speech still keeps to the cap: an unaddressed turn's responder waits.
  fx = h.st->on_turn(h.turn("anyone else?"), h.clk.now());
  REQUIRE(fx.submits.size() == 1);
  CHECK(fx.submits[0].agent_id == "agent-Kaiden");
  h.st->on_start(fx.submits[0].job, h.clk.now(), started);
  CHECK_FALSE(started);
  CHECK(h.counter("npcorch_conversation_floor_waits_total") == 1);
}

TEST_CASE("conversation_state: an addressed player turn ignores the cooldown - unprompted speech waits for it") {
  policies::conversation_options o;
  o.max_responders = 1;
  harness h(o);
  auto fx = h.st->on_turn(h.turn("Pete?"), h.clk.now());
  REQUIRE(fx.submits.size() == 1);
  h.start(fx.submits[0].job);
  h.reply(fx.submits[0].job, "Yes?");
  h.clk.advance(2s);  // Pete cools down until +5 s, but a player addresses him: answered at once
  fx = h.st->on_turn(h.turn("Pete, again"), h.clk.now());
  REQUIRE(fx.submits.size() == 1);
  CHECK(fx.submits[0].agent_id == "agent-Pete");
  auto call = h.start(fx.submits[0].job);
  CHECK(call.messages.back().content == "Pete, again");
  CHECK(h.counter("npcorch_conversation_cooldown_holds_total") == 0);
  h.reply(fx.submits[0].job, "Still here.");
  // An unaddressed turn: Goldie and Kaiden never spoke, Goldie is nearer and answers.
  // The NPC-to-NPC chain step is unprompted: it waits for the cooldown.
  o.max_npc_chain = 1;
  h.st = std::make_unique<conversation_state>(o, h.views, h.metrics);
  fx = h.st->on_turn(h.turn("Goldie?"), h.clk.now());
  h.start(fx.submits[0].job);
  h.reply(fx.submits[0].job, "Hi.");  // Goldie cools down
  fx = h.st->on_turn(h.turn("Kaiden?"), h.clk.now());
  h.start(fx.submits[0].job);
  auto r = h.reply(fx.submits[0].job, "Goldie, say hello");  // a chain step to the cooling Goldie
  REQUIRE(r.submits.size() == 1);
  CHECK(r.submits[0].agent_id == "agent-Goldie");
  const auto chain = r.submits[0].job;
  bool started = true;
  h.st->on_start(chain, h.clk.now(), started);
  CHECK_FALSE(started);
  CHECK(h.counter("npcorch_conversation_cooldown_holds_total") == 1);
  h.clk.advance(4s);
  CHECK(h.st->tick(h.clk.now()).submits.empty());  // still cooling
  h.clk.advance(1s);
  auto t = h.st->tick(h.clk.now());
  REQUIRE(t.submits.size() == 1);
  CHECK(t.submits[0].job == chain);
  h.start(chain);
  // Pete speaking now: a turn for everyone skips him (a hold); Goldie and Kaiden answer.
  h.st = std::make_unique<conversation_state>(policies::conversation_options{}, h.views, h.metrics);
  fx = h.st->on_turn(h.turn("Pete?"), h.clk.now());
  h.start(fx.submits[0].job);
  fx = h.st->on_turn(h.turn("anyone here?"), h.clk.now());
  REQUIRE(fx.submits.size() == 1);  // Pete generating, Goldie queued for t3: both held
  CHECK(fx.submits[0].agent_id == "agent-Kaiden");
  CHECK(h.counter("npcorch_conversation_cooldown_holds_total") == 3);
}

TEST_CASE("conversation_state: an addressed turn that finds its NPC answering something else is counted by what") {
  policies::conversation_options o;
  o.max_responders = 2;
  o.max_concurrent_speakers = 2;
  harness h(o);
  auto waits = [&](const char* behind) {
    return h.counter("npcorch_conversation_addressed_waits_total", {{"behind", behind}});
  };
  // Ann addresses Pete; Goldie answers her too, unprompted, once Pete has started.
  auto fx = h.st->on_turn(h.turn("Pete, hello"), h.clk.now());
  REQUIRE(fx.submits.size() == 2);
  const auto pete = fx.submits[0].job, goldie = fx.submits[1].job;
  CHECK(fx.submits[0].agent_id == "agent-Pete");
  CHECK(fx.submits[1].agent_id == "agent-Goldie");
  h.start(pete);
  h.start(goldie);
  CHECK(waits("unaddressed") <= 0);  // nobody was busy: never counted
  // Goldie is addressed while she answers Ann's turn to Pete, unprompted: she must wait.
  fx = h.st->on_turn(h.turn("Goldie, and you?"), h.clk.now());
  CHECK(waits("unaddressed") == 1);
  // Pete is addressed while he answers a player who addressed him: another kind of wait.
  fx = h.st->on_turn(h.turn("Pete, one more"), h.clk.now());
  CHECK(waits("reply") == 1);
  CHECK(waits("notice") <= 0);
  CHECK(waits("chain") <= 0);
}

TEST_CASE("conversation_state: an addressed NPC busy past turn_timeout ends in turn_dropped timeout") {
  policies::conversation_options o;
  o.max_responders = 1;
  o.turn_timeout = 2s;
  harness h(o);
  auto fx = h.st->on_turn(h.turn("Pete?"), h.clk.now());
  h.start(fx.submits[0].job);  // Pete generating, his answer does not come
  fx = h.st->on_turn(h.turn("Pete!"), h.clk.now());
  bool started = true;
  h.st->on_start(fx.submits[0].job, h.clk.now(), started);
  CHECK_FALSE(started);
  h.clk.advance(1s);
  CHECK_FALSE(has_event(h.st->tick(h.clk.now()), "turn_dropped"));
  h.clk.advance(1500ms);
  auto t = h.st->tick(h.clk.now());
  CHECK(has_event(t, R"("type":"turn_dropped","turnId":"t2","reason":"timeout")"));
  CHECK(h.counter("npcorch_turns_dropped_total", {{"reason", "timeout"}}) == 1);
  CHECK(h.st->jobs() == 1);  // Pete's first job is still generating
}

TEST_CASE("conversation_state: NPC-to-NPC chains stop at max_npc_chain (0 = none)") {
  for (std::uint32_t chain : {0U, 1U, 2U}) {
    CAPTURE(chain);
    policies::conversation_options o;
    o.max_responders = 1;
    o.max_npc_chain = chain;
    o.npc_cooldown = 0s;
    harness h(o);
    auto fx = h.st->on_turn(h.turn("Pete, ask Goldie"), h.clk.now());
    REQUIRE(fx.submits.size() == 1);
    auto job = fx.submits[0].job;
    std::uint32_t steps = 0;
    const char* lines[] = {"Goldie, what do you think?", "Kaiden knows better.", "Pete, I do not.", "Goldie?"};
    for (int i = 0; i < 4; ++i) {
      h.start(job);
      h.clk.advance(2s);
      auto r = h.reply(job, lines[i]);
      CHECK(has_event(r, R"("inReplyTo":"t1")"));
      if (r.submits.empty()) break;
      ++steps;
      job = r.submits[0].job;
    }
    CHECK(steps == chain);
    CHECK(h.counter("npcorch_conversation_chain_steps_total") == chain);
  }
}

TEST_CASE("conversation_state: the same text from one NPC within a second is suppressed") {
  policies::conversation_options o;
  o.max_responders = 1;
  o.npc_cooldown = 0s;
  harness h(o);
  auto a = h.st->on_turn(h.turn("Pete?"), h.clk.now());
  h.start(a.submits[0].job);
  CHECK(has_event(h.reply(a.submits[0].job, "Welcome!"), "npc_message"));
  h.clk.advance(300ms);
  auto b = h.st->on_turn(h.turn("Pete??"), h.clk.now());
  h.start(b.submits[0].job);
  auto r = h.reply(b.submits[0].job, "Welcome!");
  CHECK_FALSE(has_event(r, "npc_message"));
  CHECK(has_event(r, R"("turnId":"t2","reason":"duplicate")"));
  CHECK(h.counter("npcorch_conversation_echoes_suppressed_total") == 1);
  CHECK(h.counter("npcorch_conversation_replies_total") == 1);
  // Goldie and Kaiden heard "Welcome!" once only.
  CHECK(h.st->context_lines("g", "Goldie") == 3);  // "Pete?", "Welcome!", "Pete??"
}

TEST_CASE("conversation_state: player turns over the per-minute limit are dropped rate_limited") {
  policies::conversation_options o;
  o.player_turns_per_min = 2;
  harness h(o);
  CHECK_FALSE(has_event(h.st->on_turn(h.turn("one"), h.clk.now()), "turn_dropped"));
  CHECK_FALSE(has_event(h.st->on_turn(h.turn("two"), h.clk.now()), "turn_dropped"));
  auto fx = h.st->on_turn(h.turn("three"), h.clk.now());
  CHECK(has_event(fx, R"("turnId":"t3","reason":"rate_limited")"));
  CHECK(fx.submits.empty());
  CHECK(h.counter("npcorch_turns_dropped_total", {{"reason", "rate_limited"}}) == 1);
  h.clk.advance(61s);
  CHECK_FALSE(has_event(h.st->on_turn(h.turn("four"), h.clk.now()), "turn_dropped"));
}

TEST_CASE("conversation_state: drops name their reason (speaker_left, no_listener, letta_failed, shed)") {
  harness h;
  auto fx = h.st->on_turn(h.turn("hi", "Nobody"), h.clk.now());
  CHECK(has_event(fx, R"("reason":"speaker_left")"));
  fx = h.st->on_turn(h.turn("hi", "Zed"), h.clk.now());  // alone: in no cluster
  CHECK(has_event(fx, R"("reason":"no_listener")"));

  // Audience-only NPCs (no agent) cannot answer.
  h.views.set(make_view("g", {{"Ann", false, 0, "c1"}, {"Mute", true, 1, "c1", false}}));
  fx = h.st->on_turn(h.turn("hi Mute"), h.clk.now());
  CHECK(has_event(fx, R"("reason":"no_listener")"));

  h.views.set(make_view("g", {{"Ann", false, 0, "c1"}, {"Pete", true, 1, "c1"}, {"Goldie", true, 2, "c1"}}));
  fx = h.st->on_turn(h.turn("Pete and Goldie"), h.clk.now());
  REQUIRE(fx.submits.size() == 2);
  h.start(fx.submits[0].job);
  auto r = h.st->on_dropped(fx.submits[1].job, "shed", h.clk.now());
  CHECK_FALSE(has_event(r, "turn_dropped"));  // one responder still working
  r = h.reply(fx.submits[0].job, "", false);
  CHECK(has_event(r, R"("turnId":"t4","reason":"letta_failed")"));
  CHECK(h.counter("npcorch_turns_dropped_total", {{"reason", "letta_failed"}}) == 1);

  fx = h.st->on_turn(h.turn("Pete?"), h.clk.now());
  for (const auto& s : fx.submits) r = h.st->on_dropped(s.job, "shed", h.clk.now());
  CHECK(has_event(r, R"("turnId":"t5","reason":"shed")"));
  CHECK(h.st->jobs() == 0);
}

TEST_CASE("conversation_state: a speaker who left before work started drops the turn") {
  harness h;
  auto fx = h.st->on_turn(h.turn("Pete?"), h.clk.now());
  REQUIRE(fx.submits.size() == 2);
  cluster_diff d;
  d.game_id = "g";
  d.view = make_view(
      "g", {{"Ann", false, 50, ""}, {"Pete", true, 2, "c1"}, {"Goldie", true, 4, "c1"}, {"Kaiden", true, 6, "c1"}});
  d.changes.push_back({"c1", {"Goldie", "Kaiden", "Pete"}, {}, {"Ann"}});
  h.views.set(d.view);
  auto r = h.st->on_cluster_diff(d, h.clk.now());
  CHECK(has_event(r, R"("turnId":"t1","reason":"speaker_left")"));
  CHECK(h.st->jobs() == 0);
}

TEST_CASE("conversation_state: a [SYSTEM] turn is a system message to the cluster, not a player turn") {
  policies::conversation_options o;
  o.player_turns_per_min = 1;
  harness h(o);
  h.st->on_turn(h.turn("hello"), h.clk.now());
  auto fx = h.st->on_turn(h.turn("[SYSTEM] The cafe closes soon.", "Ann", "Pete"), h.clk.now());
  CHECK_FALSE(has_event(fx, "turn_dropped"));  // not rate limited
  CHECK(h.counter("npcorch_conversation_turns_total", {{"kind", "system"}}) == 1);
  REQUIRE(!fx.submits.empty());
  auto job = fx.submits.back().job;
  bool started = false;
  auto s = h.st->on_start(job, h.clk.now(), started);
  if (!started) return;  // parked behind the player's turn: fine, order is tested elsewhere
  CHECK(s.calls[0].messages.back().role == "system");
}

// --- entry notices ---------------------------------------------------------------------

namespace {
cluster_diff join_diff(harness& h, const std::vector<std::string>& joined) {
  std::vector<ent> ents{{"Ann", false, 0, "c1"}, {"Pete", true, 2, "c1"}};
  std::vector<std::string> members{"Ann", "Pete"};
  double x = 3;
  for (const auto& j : joined) {
    ents.push_back({j, false, x, "c1"});
    members.push_back(j);
    x += 1;
  }
  cluster_diff d;
  d.game_id = "g";
  d.view = make_view("g", ents);
  std::sort(members.begin(), members.end());
  d.changes.push_back({"c1", members, joined, {}});
  h.views.set(d.view);
  return d;
}
}  // namespace

TEST_CASE("notices: never sent before block_synced lists the newcomer - sent alone after notice_delay") {
  harness h;
  h.views.set(make_view("g", {{"Ann", false, 0, "c1"}, {"Pete", true, 2, "c1"}}));
  h.st->on_cluster_diff(join_diff(h, {"Diamond"}), h.clk.now());
  h.clk.advance(5s);
  CHECK(h.st->tick(h.clk.now()).submits.empty());  // block not synced yet
  h.st->on_block_synced({"g", "Pete", {"Ann"}}, h.clk.now());
  h.clk.advance(5s);
  CHECK(h.st->tick(h.clk.now()).submits.empty());  // the block does not list Diamond
  h.st->on_block_synced({"g", "Pete", {"Ann", "Diamond"}}, h.clk.now());
  h.clk.advance(999ms);
  CHECK(h.st->tick(h.clk.now()).submits.empty());  // still inside the ride-along window
  h.clk.advance(1ms);
  auto t = h.st->tick(h.clk.now());
  REQUIRE(t.submits.size() == 1);
  CHECK(t.submits[0].kind == queues::message_kind::system_notice);
  CHECK(t.submits[0].agent_id == "agent-Pete");
  bool typing_started = false;
  auto started_fx = h.st->on_start(t.submits[0].job, h.clk.now(), typing_started);
  REQUIRE(typing_started);
  REQUIRE(started_fx.calls.size() == 1);
  // The answer to a notice types too, with inReplyTo null.
  CHECK(
      has_event(started_fx,
                R"("type":"npc_typing","npc":"Pete","clusterId":"c1","audience":["Ann","Diamond"],"inReplyTo":null)"));
  auto call = started_fx.calls[0];
  REQUIRE(call.messages.size() == 1);
  CHECK(call.messages[0].role == "system");
  CHECK(call.messages[0].content ==
        "[SYSTEM] Diamond has entered your range. You are now in speaking range with Ann and Diamond at Cafe. Please "
        "check context memory and group block for recent interactions.");
  CHECK(h.counter("npcorch_conversation_notices_total") == 1);
  auto r = h.reply(t.submits[0].job, "Hello Diamond!");
  CHECK(has_event(r, R"("inReplyTo":null)"));
  // The answer counts toward Pete's cooldown: an unaddressed turn waits for him ...
  auto fx = h.st->on_turn(h.turn("hello?"), h.clk.now());
  REQUIRE(fx.submits.size() == 1);
  bool started = true;
  h.st->on_start(fx.submits[0].job, h.clk.now(), started);
  CHECK_FALSE(started);
  CHECK(h.counter("npcorch_conversation_cooldown_holds_total") == 2);  // at arbitration and at start
  h.clk.advance(5s);
  auto ready = h.st->tick(h.clk.now());
  REQUIRE(ready.submits.size() == 1);
  h.start(ready.submits[0].job);
  h.reply(ready.submits[0].job, "Hello there.");
  // ... but a player addressing him right after his answer is answered at once.
  fx = h.st->on_turn(h.turn("Pete, what do you sell?"), h.clk.now());
  REQUIRE(fx.submits.size() == 1);
  auto addressed = h.start(fx.submits[0].job);
  CHECK(addressed.messages.back().content == "Pete, what do you sell?");
  h.reply(fx.submits[0].job, "Bread.");
  // No second notice for Diamond within the cooldown.
  h.clk.advance(10s);
  h.st->on_cluster_diff(join_diff(h, {"Diamond"}), h.clk.now());
  h.clk.advance(2s);
  auto t2 = h.st->tick(h.clk.now());
  for (const auto& s : t2.submits) CHECK(s.kind != queues::message_kind::system_notice);
}

TEST_CASE("notices: several joins fold into one notice that rides along with the next reply") {
  harness h;
  h.views.set(make_view("g", {{"Ann", false, 0, "c1"}, {"Pete", true, 2, "c1"}}));
  h.st->on_cluster_diff(join_diff(h, {"Diamond"}), h.clk.now());
  h.st->on_cluster_diff(join_diff(h, {"Diamond", "Kaiden"}), h.clk.now());
  h.st->on_block_synced({"g", "Pete", {"Ann", "Diamond", "Kaiden"}}, h.clk.now());
  h.clk.advance(300ms);
  auto fx = h.st->on_turn(h.turn("Pete, look who is here"), h.clk.now());
  REQUIRE(fx.submits.size() == 1);
  auto call = h.start(fx.submits[0].job);
  REQUIRE(call.messages.size() == 2);
  CHECK(call.messages[0].role == "system");
  CHECK(call.messages[0].content.starts_with("[SYSTEM] Diamond and Kaiden have entered your range."));
  CHECK(call.messages[1].content == "Pete, look who is here");
  CHECK(h.counter("npcorch_conversation_notices_total") == 1);
  CHECK(h.counter("npcorch_conversation_notices_folded_total") == 1);
  h.clk.advance(5s);
  auto t = h.st->tick(h.clk.now());
  for (const auto& s : t.submits) CHECK(s.kind != queues::message_kind::system_notice);  // already delivered
}

TEST_CASE("conversation_state: a cooling addressed NPC still answers first and at once") {
  harness h;
  auto fx = h.st->on_turn(h.turn("Pete?"), h.clk.now());
  const auto first = fx.submits[0].job;
  h.start(first);
  h.reply(first, "Yes?");
  // The second responder of t1 (Goldie) starts and answers.
  const auto second = fx.submits[1].job;
  h.start(second);
  h.reply(second, "Hi Ann.");
  h.clk.advance(1s);
  // v3 turn addressed to Pete by npc id while he cools down: he answers now, Kaiden after him.
  chat_turn t = h.turn("what do you sell?");
  t.from_v3 = true;
  t.v3_npc_id = "npc-Pete";
  fx = h.st->on_turn(t, h.clk.now());
  REQUIRE(fx.submits.size() == 2);
  CHECK(fx.submits[0].agent_id == "agent-Pete");
  CHECK(fx.submits[1].agent_id == "agent-Kaiden");
  bool started = true;
  h.st->on_start(fx.submits[1].job, h.clk.now(), started);
  CHECK_FALSE(started);  // Kaiden is ready but waits for the addressed Pete
  auto call = h.start(fx.submits[0].job);
  CHECK(call.messages.back().content == "what do you sell?");
  auto r = h.reply(fx.submits[0].job, "Bread.");
  CHECK(has_event(r, R"("npc":"Pete","text":"Bread.")"));
  REQUIRE(r.submits.size() == 1);
  CHECK(r.submits[0].agent_id == "agent-Kaiden");
}

TEST_CASE("conversation_state: shutdown drops every unanswered turn, once") {
  harness h;
  auto fx = h.st->on_turn(h.turn("Pete?"), h.clk.now());
  REQUIRE(fx.submits.size() == 2);
  h.start(fx.submits[0].job);
  CHECK(h.counter("npcorch_conversations_active") == 1);
  auto s = h.st->on_shutdown("shutdown");
  CHECK(has_event(s, R"("turnId":"t1","reason":"shutdown")"));
  CHECK(s.events.size() == 1);
  CHECK(h.st->jobs() == 0);
  CHECK(h.counter("npcorch_conversations_active") == 0);
  CHECK(h.reply(fx.submits[0].job, "late").events.empty());  // a late reply is ignored
}

TEST_CASE("conversation_state: reply jobs per game are capped; the turn past the cap is dropped overloaded") {
  policies::conversation_options o;
  o.max_responders = 1;
  o.max_jobs_per_game = 1;
  harness h(o);
  auto first = h.st->on_turn(h.turn("one"), h.clk.now());
  CHECK_FALSE(has_event(first, "turn_dropped"));
  CHECK(first.submits.size() == 1);
  auto fx = h.st->on_turn(h.turn("two"), h.clk.now());
  CHECK(has_event(fx, R"("reason":"overloaded")"));
  CHECK(fx.submits.empty());
  CHECK(h.counter("npcorch_turns_dropped_total", {{"reason", "overloaded"}}) == 1);
}
