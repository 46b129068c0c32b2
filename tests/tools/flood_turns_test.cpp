// npc-flood's reply bookkeeping and report figures: pure code on a manual clock (time points
// built by hand, nothing sleeps), Prometheus text built by hand.
#include <doctest/doctest.h>

#include <chrono>
#include <sstream>
#include <string>

#include "tools/npc-flood/percentile.hpp"
#include "tools/npc-flood/report.hpp"
#include "tools/npc-flood/turn_tracker.hpp"

using namespace orch::tools;

namespace {

using clock_t_ = turn_tracker::clock;
const clock_t_::time_point t0{};

clock_t_::time_point at_ms(int ms) { return t0 + std::chrono::milliseconds(ms); }

}  // namespace

TEST_CASE("flood percentile: nearest rank, clamped, empty is none") {
  CHECK_FALSE(nearest_rank({}, 0.5).has_value());
  const std::vector<double> v{1, 2, 3, 4};
  CHECK(nearest_rank(v, 0.5).value() == 2);
  CHECK(nearest_rank(v, 0.51).value() == 3);
  CHECK(nearest_rank(v, 0).value() == 1);
  CHECK(nearest_rank(v, 1).value() == 4);
  CHECK(nearest_rank(v, 7).value() == 4);
}

TEST_CASE("flood turns: reply latency runs from the 202 to the addressed NPC's npc_message") {
  turn_tracker tr;
  tr.on_ack("t1", {"flood-1", "Player-1-1", "Pete", "Hey, what do you sell?"}, at_ms(100));
  CHECK(tr.open() == 1);
  tr.on_typing("t1", "Kaiden", at_ms(110));  // not the addressed NPC: no typing time
  tr.on_typing("t1", "Pete", at_ms(120));
  tr.on_typing("t1", "Pete", at_ms(130));  // a second typing does not count twice
  tr.on_message("t1", "Kaiden", "I am not Pete", at_ms(300));
  CHECK(tr.open() == 1);  // another NPC answering does not settle an addressed turn
  tr.on_message("t1", "Pete", "Apples!", at_ms(600));
  CHECK(tr.open() == 0);
  tr.on_message("t1", "Pete", "And pears.", at_ms(900));  // later messages change nothing
  const auto& s = tr.stats();
  CHECK(s.accepted == 1);
  CHECK(s.addressed == 1);
  CHECK(s.replied == 1);
  CHECK(s.typed == 1);
  REQUIRE(s.reply_latency.count() == 1);
  CHECK(s.reply_latency.percentile(0.5).value() == doctest::Approx(0.5));
  CHECK(s.typing_latency.percentile(0.5).value() == doctest::Approx(0.02));
  CHECK(s.first_reply_latency.percentile(0.5).value() == doctest::Approx(0.2));
  REQUIRE(s.transcript.size() == 1);
  CHECK(s.transcript[0].npc == "Pete");
  CHECK(s.transcript[0].reply == "Apples!");
  CHECK(s.transcript[0].text == "Hey, what do you sell?");
  CHECK(s.transcript[0].game == "flood-1");
}

TEST_CASE("flood turns: events read before the 202 count from the 202, drops settle, others are held") {
  turn_tracker tr(1);
  tr.on_typing("t2", "Ivy", at_ms(50));
  tr.on_message("t2", "Ivy", "Shh.", at_ms(60));
  CHECK(tr.open() == 0);
  tr.on_ack("t2", {"flood-1", "Player-1-2", "Ivy", "Ivy, any books?"}, at_ms(70));
  CHECK(tr.open() == 0);
  CHECK(tr.stats().replied == 1);
  CHECK(tr.stats().reply_latency.percentile(0.5).value() == doctest::Approx(0.0));

  tr.on_ack("t3", {"flood-1", "Player-1-3", "", "Anyone here?"}, at_ms(100));
  tr.on_dropped("t3", "no_listener", at_ms(140));
  tr.on_message("t3", "Rex", "Late.", at_ms(200));  // after the drop: not a reply
  CHECK(tr.stats().dropped.at("no_listener") == 1);
  CHECK(tr.stats().replied == 1);

  tr.on_ack("t4", {"flood-1", "Player-1-4", "", "lol"}, at_ms(300));
  tr.on_message("t4", "Luna", "Ha.", at_ms(450));  // unaddressed: any NPC answers it
  CHECK(tr.stats().replied == 2);
  CHECK(tr.stats().reply_latency.count() == 1);  // only addressed turns have a reply latency
  CHECK(tr.stats().transcript.size() == 1);      // capped at 1
  CHECK(tr.stats().nothing() == 0);
  CHECK(tr.open() == 0);
}

TEST_CASE("flood turns: events for turns never acked here are held up to a cap, then counted") {
  turn_tracker tr(4, 2);
  tr.on_message("a", "Pete", "x", at_ms(1));
  tr.on_typing("a", "Pete", at_ms(1));  // same turn: held with the first
  tr.on_message("b", "Pete", "y", at_ms(2));
  tr.on_message("c", "Pete", "z", at_ms(3));  // a third unknown turn: over the cap
  tr.on_dropped("d", "shed", at_ms(4));
  CHECK(tr.stats().events_unmatched == 2);
  tr.on_ack("b", {"flood-1", "P", "Pete", "Pete?"}, at_ms(5));
  CHECK(tr.stats().replied == 1);
  tr.on_ack("c", {"flood-1", "P", "Pete", "Pete!"}, at_ms(6));  // its answer was not held
  CHECK(tr.stats().replied == 1);
  CHECK(tr.open() == 1);
}

TEST_CASE("flood report: Letta figures from the daemon's metrics, n/a when absent") {
  turn_stats t;
  t.events_by_type["npc_message"] = 10;
  const prom_text none("npcorch_snapshots_applied_total 5\n");
  const auto absent = letta_table(none, t);
  CHECK_FALSE(absent.block_lag_p95_s.has_value());
  CHECK_FALSE(absent.requests_per_reply.has_value());
  CHECK_FALSE(absent.prompt_tokens.has_value());
  CHECK_FALSE(absent.exported);

  const prom_text m(
      "npcorch_snapshots_applied_total 20\n"
      "npcorch_letta_requests_total{kind=\"message\",status=\"ok\"} 11\n"
      "npcorch_letta_requests_total{kind=\"message\",status=\"error\"} 1\n"
      "npcorch_letta_requests_total{kind=\"block_write\",status=\"ok\"} 30\n"
      "npcorch_letta_requests_total{kind=\"block_read\",status=\"ok\"} 10\n"
      "npcorch_letta_block_reads_skipped_total 25\n"
      "npcorch_letta_tokens_total{type=\"prompt\"} 900\n"
      "npcorch_letta_tokens_total{type=\"completion\"} 100\n"
      "npcorch_block_lag_seconds_bucket{le=\"0.5\"} 90\n"
      "npcorch_block_lag_seconds_bucket{le=\"1\"} 96\n"
      "npcorch_block_lag_seconds_bucket{le=\"+Inf\"} 100\n"
      "npcorch_reply_latency_seconds_bucket{le=\"0.5\"} 1\n"
      "npcorch_reply_latency_seconds_bucket{le=\"1\"} 10\n"
      "npcorch_reply_latency_seconds_bucket{le=\"+Inf\"} 10\n");
  const auto f = letta_table(m, t);
  CHECK(f.block_lag_p95_s.value() == doctest::Approx(1.0));
  CHECK(f.reply_p50_s.value() == doctest::Approx(1.0));
  CHECK(f.message.value() == doctest::Approx(12));
  CHECK(f.requests_total.value() == doctest::Approx(52));
  CHECK_FALSE(f.conversation.has_value());
  CHECK(f.requests_per_reply.value() == doctest::Approx(1.2));
  CHECK(f.requests_per_snapshot.value() == doctest::Approx(2.0));
  CHECK(f.tokens_per_reply.value() == doctest::Approx(100));
  CHECK(f.reads_skipped.value() == doctest::Approx(25));
  CHECK(f.exported);

  // The table says once that the figures are missing, or prints them.
  run_report old_daemon;
  old_daemon.metrics_available = true;
  old_daemon.metrics = none;
  std::ostringstream a;
  print_table(old_daemon, a);
  CHECK(a.str().find("n/a (this daemon does not export") != std::string::npos);
  run_report new_daemon = old_daemon;
  new_daemon.metrics = m;
  std::ostringstream b;
  print_table(new_daemon, b);
  CHECK(b.str().find("block lag p95 1000ms") != std::string::npos);
  CHECK(b.str().find("letta requests 52: message 12, block_read 10, block_write 30") != std::string::npos);
}

TEST_CASE("flood report: the transcript picks exchanges evenly and prints who said what to whom") {
  std::vector<exchange> all;
  for (int i = 0; i < 10; ++i) {
    all.push_back({"flood-1", "Player-1-" + std::to_string(i), "Pete", "q" + std::to_string(i), "Pete",
                   "a" + std::to_string(i), 0.5});
  }
  const auto three = pick_exchanges(all, 3);
  REQUIRE(three.size() == 3);
  CHECK(three[0].text == "q0");
  CHECK(three[1].text == "q4");
  CHECK(three[2].text == "q9");
  CHECK(pick_exchanges(all, 20).size() == 10);
  CHECK(pick_exchanges(all, 0).empty());
  // Addressed turns are preferred; unaddressed ones only when nothing else was answered.
  std::vector<exchange> mixed = {{"flood-1", "P", "", "lol", "Rex", "Ha.", 0.1}, all[3]};
  REQUIRE(pick_exchanges(mixed, 2).size() == 1);
  CHECK(pick_exchanges(mixed, 2)[0].text == "q3");
  CHECK(pick_exchanges({mixed[0]}, 2).size() == 1);

  run_report r;
  r.transcript = 2;
  r.stats.turns.transcript = all;
  std::ostringstream table;
  print_table(r, table);
  CHECK(table.str().find("Player-1-0 -> Pete: \"q0\"") != std::string::npos);
  CHECK(table.str().find("Pete (0.50 s after the 202): \"a9\"") != std::string::npos);
  std::ostringstream json;
  print_json(r, json);
  CHECK(json.str().find("\"transcript\":[{\"game\":\"flood-1\"") != std::string::npos);
  CHECK(json.str().find("\"block_lag_p95_s\":null") != std::string::npos);
}
