#pragma once
// Matches a flood's chat turns to the events the daemon sends about them (DESIGN 3.3): the
// turn's 202 starts the clock; `npc_typing` and `npc_message` whose inReplyTo is the turn id
// stop the typing and reply clocks (for an addressed turn, only the addressed NPC's count for
// those; any NPC's first message still counts as the first reply); `turn_dropped` settles
// the turn. An event read before its turn's 202 is held and applied when the 202 arrives
// (latency 0 then). Pure code: times come in as arguments, so tests run on a manual clock.
//
// Ownership: owns its maps and the turn_stats it fills. Thread-safety: none (one shard).
// Failure: never throws except std::bad_alloc; an event for an unknown turn that would grow
// the held set past `max_early` is not held and counts in stats().events_unmatched.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tools/npc-flood/flood_stats.hpp"

namespace orch::tools {

struct turn_info {
  std::string game, speaker, target, text;  // target: the addressed NPC's display name or empty
};

class turn_tracker {
 public:
  using clock = std::chrono::steady_clock;
  // transcript_cap: exchanges kept for --transcript; max_early: unknown turns whose events
  // are held waiting for their 202.
  explicit turn_tracker(std::size_t transcript_cap = 64, std::size_t max_early = 100000)
      : transcript_cap_(transcript_cap), max_early_(max_early) {}

  void on_ack(const std::string& id, turn_info info, clock::time_point at) {
    ++stats_.accepted;
    if (!info.target.empty()) ++stats_.addressed;
    auto [it, fresh] = turns_.try_emplace(id);
    if (!fresh) return;  // a turn id seen twice: keep the first
    it->second.info = std::move(info);
    it->second.acked = at;
    ++open_;
    if (auto e = early_.find(id); e != early_.end()) {
      const auto held = std::move(e->second);
      early_.erase(e);
      for (const auto& ev : held) apply(it->second, ev);
    }
  }
  void on_typing(const std::string& id, const std::string& npc, clock::time_point at) {
    route(id, {event_kind::typing, npc, {}, at});
  }
  void on_message(const std::string& id, const std::string& npc, const std::string& text, clock::time_point at) {
    route(id, {event_kind::message, npc, text, at});
  }
  void on_dropped(const std::string& id, const std::string& reason, clock::time_point at) {
    route(id, {event_kind::dropped, {}, reason, at});
  }

  // Accepted turns with neither an answer nor a drop yet.
  std::uint64_t open() const { return open_; }
  const turn_stats& stats() const { return stats_; }
  turn_stats& stats() { return stats_; }

 private:
  enum class event_kind { typing, message, dropped };
  struct event {
    event_kind k;
    std::string npc;
    std::string text;  // the message, or the drop reason
    clock::time_point at;
  };
  struct turn_rec {
    turn_info info;
    clock::time_point acked;
    bool typed = false, any_reply = false, done = false;
  };

  void route(const std::string& id, event ev) {
    auto it = turns_.find(id);
    if (it != turns_.end()) return apply(it->second, ev);
    auto e = early_.find(id);
    if (e == early_.end() && early_.size() >= max_early_) {
      ++stats_.events_unmatched;
      return;
    }
    early_[id].push_back(std::move(ev));
  }

  void apply(turn_rec& t, const event& ev) {
    const double latency = std::max(0.0, std::chrono::duration<double>(ev.at - t.acked).count());
    const bool addressed_npc = t.info.target.empty() || ev.npc == t.info.target;
    switch (ev.k) {
      case event_kind::typing:
        if (t.typed || !addressed_npc) return;
        t.typed = true;
        ++stats_.typed;
        stats_.typing_latency.add(latency);
        return;
      case event_kind::message:
        if (!t.any_reply) {
          t.any_reply = true;
          stats_.first_reply_latency.add(latency);
        }
        if (t.done || !addressed_npc) return;
        settle(t);
        ++stats_.replied;
        if (!t.info.target.empty()) stats_.reply_latency.add(latency);
        if (stats_.transcript.size() < transcript_cap_) {
          stats_.transcript.push_back(
              {t.info.game, t.info.speaker, t.info.target, t.info.text, ev.npc, ev.text, latency});
        }
        return;
      case event_kind::dropped:
        if (t.done) return;
        settle(t);
        ++stats_.dropped[ev.text.empty() ? "unknown" : ev.text];
        return;
    }
  }

  void settle(turn_rec& t) {
    t.done = true;
    --open_;
  }

  std::size_t transcript_cap_;
  std::size_t max_early_;
  std::unordered_map<std::string, turn_rec> turns_;
  std::unordered_map<std::string, std::vector<event>> early_;
  std::uint64_t open_ = 0;
  turn_stats stats_;
};

}  // namespace orch::tools
