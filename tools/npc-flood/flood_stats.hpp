#pragma once
// What a flood run counts: per request kind offered/sent/not_sent/answered, HTTP statuses,
// ack latencies; chat-turn outcomes (reply, turn_dropped by reason, nothing); malformed
// request verdicts. Each shard fills its own copy; the runner merges them at the end.
// Pure code, header-only for the tests.
//
// Thread-safety: none (one owner at a time). Failure: never throws except std::bad_alloc.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tools/npc-flood/percentile.hpp"

namespace orch::tools {

// Samples in seconds; percentiles by nearest rank.
class latency_recorder {
 public:
  void add(double s) {
    v_.push_back(s);
    sorted_ = false;
  }
  void merge(const latency_recorder& o) {
    v_.insert(v_.end(), o.v_.begin(), o.v_.end());
    sorted_ = false;
  }
  std::size_t count() const { return v_.size(); }
  // q in [0, 1]; nullopt when empty.
  std::optional<double> percentile(double q) const {
    sort();
    return nearest_rank(v_, q);
  }
  std::optional<double> max() const {
    return v_.empty() ? std::nullopt : std::optional(*std::max_element(v_.begin(), v_.end()));
  }

 private:
  void sort() const {
    if (!sorted_) std::sort(v_.begin(), v_.end());
    sorted_ = true;
  }
  mutable std::vector<double> v_;
  mutable bool sorted_ = true;
};

struct kind_stats {
  std::uint64_t offered = 0;   // scheduled by the timetable
  std::uint64_t sent = 0;      // handed to an idle connection
  std::uint64_t not_sent = 0;  // no idle connection in its slot (open loop: never delayed)
  std::uint64_t answered = 0;  // got an HTTP response
  std::uint64_t failed = 0;    // timeout, refused or dropped connection: no response
  std::map<int, std::uint64_t> statuses;
  latency_recorder ack;  // send -> response complete

  void merge(const kind_stats& o) {
    offered += o.offered;
    sent += o.sent;
    not_sent += o.not_sent;
    answered += o.answered;
    failed += o.failed;
    for (auto [k, v] : o.statuses) statuses[k] += v;
    ack.merge(o.ack);
  }
  std::uint64_t status_class(int hundreds) const {
    std::uint64_t n = 0;
    for (auto [k, v] : statuses) n += (k / 100 == hundreds) ? v : 0;
    return n;
  }
};

// Verdicts on bad requests, by malformed kind.
struct malformed_stats {
  struct per_kind {
    std::uint64_t sent = 0, got_4xx = 0, got_2xx = 0, got_5xx = 0, other = 0, dropped = 0;
    std::map<int, std::uint64_t> statuses;
  };
  std::map<std::string, per_kind> by_kind;

  void record(const std::string& kind, int status) {
    auto& k = by_kind[kind];
    ++k.sent;
    if (status == 0)
      ++k.dropped;
    else {
      ++k.statuses[status];
      if (status / 100 == 4)
        ++k.got_4xx;
      else if (status / 100 == 2)
        ++k.got_2xx;
      else if (status / 100 == 5)
        ++k.got_5xx;
      else
        ++k.other;
    }
  }
  void merge(const malformed_stats& o) {
    for (const auto& [name, k] : o.by_kind) {
      auto& m = by_kind[name];
      m.sent += k.sent;
      m.got_4xx += k.got_4xx;
      m.got_2xx += k.got_2xx;
      m.got_5xx += k.got_5xx;
      m.other += k.other;
      m.dropped += k.dropped;
      for (auto [s, n] : k.statuses) m.statuses[s] += n;
    }
  }
  std::uint64_t sent() const {
    std::uint64_t n = 0;
    for (const auto& [_, k] : by_kind) n += k.sent;
    return n;
  }
  // Every bad request answered with a 4xx.
  bool all_4xx() const {
    for (const auto& [_, k] : by_kind) {
      if (k.got_4xx != k.sent) return false;
    }
    return true;
  }
};

// One exchange of the run, for the transcript: a player's turn and the NPC's answer.
struct exchange {
  std::string game, speaker, target, text;  // the turn (target: the addressed NPC, may be empty)
  std::string npc, reply;                   // the answer
  double latency_s = 0;                     // the turn's 202 -> the answer
};

// What became of accepted chat turns (202 with a turnId). Latencies start at the 202.
struct turn_stats {
  std::uint64_t accepted = 0;                    // 202 with a turnId
  std::uint64_t addressed = 0;                   // of which addressed to a known NPC
  std::uint64_t replied = 0;                     // settled by an answer: the addressed NPC's npc_message, or
                                                 // any npc_message for a turn addressed to nobody
  std::uint64_t typed = 0;                       // an npc_typing (the addressed NPC's, when addressed) arrived
  std::map<std::string, std::uint64_t> dropped;  // turn_dropped by reason
  latency_recorder reply_latency;                // addressed turns: 202 -> the addressed NPC's npc_message
  latency_recorder first_reply_latency;          // every turn: 202 -> the first npc_message for it
  latency_recorder typing_latency;               // 202 -> npc_typing (the addressed NPC's when addressed)
  std::map<std::string, std::uint64_t> events_by_type;
  bool events_available = true;  // false when the long-poll route answered an error
  std::uint64_t event_resets = 0;
  std::uint64_t events_unmatched = 0;  // about turns never acked here, not held (cap reached)
  std::vector<exchange> transcript;    // the first answers of the run, in arrival order

  std::uint64_t dropped_total() const {
    std::uint64_t n = 0;
    for (auto [_, v] : dropped) n += v;
    return n;
  }
  std::uint64_t nothing() const {
    const auto done = replied + dropped_total();
    return accepted > done ? accepted - done : 0;
  }
  void merge(const turn_stats& o) {
    accepted += o.accepted;
    addressed += o.addressed;
    replied += o.replied;
    typed += o.typed;
    for (const auto& [k, v] : o.dropped) dropped[k] += v;
    reply_latency.merge(o.reply_latency);
    first_reply_latency.merge(o.first_reply_latency);
    typing_latency.merge(o.typing_latency);
    for (const auto& [k, v] : o.events_by_type) events_by_type[k] += v;
    events_available = events_available && o.events_available;
    event_resets += o.event_resets;
    events_unmatched += o.events_unmatched;
    transcript.insert(transcript.end(), o.transcript.begin(), o.transcript.end());
  }
};

// Everything one shard (or the whole run, once merged) counted.
struct flood_stats {
  std::map<std::string, kind_stats> kinds;  // "snapshot", "chat_turn", "malformed"
  malformed_stats malformed;
  turn_stats turns;

  void merge(const flood_stats& o) {
    for (const auto& [k, v] : o.kinds) kinds[k].merge(v);
    malformed.merge(o.malformed);
    turns.merge(o.turns);
  }
};

}  // namespace orch::tools
