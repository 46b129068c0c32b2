#include "tools/npc-flood/report.hpp"

#include <rapidjson/ostreamwrapper.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <cstdio>

namespace orch::tools {

namespace {

const std::string q_label = "queue";

std::string fmt(std::optional<double> v, const char* spec = "%.0f", double scale = 1.0) {
  if (!v) return "n/a";
  if (std::isinf(*v)) return *v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, *v * scale);
  return buf;
}

// Seconds shown as milliseconds with the unit; n/a and +Inf stay bare.
std::string fmt_ms(std::optional<double> seconds, const char* spec = "%.1f") {
  if (!seconds || std::isinf(*seconds)) return fmt(seconds);
  return fmt(seconds, spec, 1e3) + "ms";
}

double per_s(std::uint64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; }

std::optional<double> ratio(std::optional<double> a, std::optional<double> b) {
  if (!a || !b || *b <= 0) return std::nullopt;
  return *a / *b;
}

struct daemon_figures {
  std::optional<double> block_writes, block_writes_naive, letta_calls, letta_retries,
      snapshots_applied, snapshots_stale;
};

daemon_figures daemon_totals(const prom_text& m) {
  return {m.sum("npcorch_letta_block_writes_total"), m.sum("npcorch_letta_block_writes_naive_total"),
          m.sum("npcorch_letta_calls_total"),        m.sum("npcorch_letta_retries_total"),
          m.sum("npcorch_snapshots_applied_total"),  m.sum("npcorch_snapshots_stale_total")};
}

// JSON helpers: n/a is null.
using json_writer = rapidjson::Writer<rapidjson::OStreamWrapper>;
void key(json_writer& w, const std::string& k) {
  w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
}
void opt(json_writer& w, const char* key, std::optional<double> v) {
  w.Key(key);
  if (v && std::isfinite(*v)) w.Double(*v);
  else if (v && std::isinf(*v)) w.String("+Inf");
  else w.Null();
}

}  // namespace

std::vector<queue_figures> queue_table(const prom_text& m) {
  std::set<std::string> queues = m.label_values("npcorch_queue_accepted_total", q_label);
  for (const auto& q : m.label_values("npcorch_queue_wait_seconds_bucket", q_label)) queues.insert(q);
  std::vector<queue_figures> out;
  for (const auto& q : queues) {
    const std::map<std::string, std::string> where{{q_label, q}};
    queue_figures f;
    f.queue = q;
    f.wait_p50_s = m.quantile_bound("npcorch_queue_wait_seconds", 0.50, where);
    f.wait_p99_s = m.quantile_bound("npcorch_queue_wait_seconds", 0.99, where);
    f.deadline_misses = m.sum("npcorch_queue_deadline_misses_total", where);
    f.accepted = m.sum("npcorch_queue_accepted_total", where);
    f.rejected = m.sum("npcorch_queue_rejected_total", where);
    f.shed = m.sum("npcorch_queue_shed_total", where);
    f.coalesced = m.sum("npcorch_queue_coalesced_total", where);
    f.depth = m.sum("npcorch_queue_depth", where);
    out.push_back(std::move(f));
  }
  return out;
}

void print_table(const run_report& r, std::ostream& out) {
  char line[512];
  out << "npc-flood: scenario " << r.scenario << " (" << r.mode << ") against " << r.target << "\n";
  std::snprintf(line, sizeof line, "  %d games, %d connections, %d threads, offered for %.1f s, ran %.1f s\n",
                r.games, r.connections, r.threads, r.duration_s, r.elapsed_s);
  out << line << "  world: " << r.registry_note << "\n\n";

  out << "requests     offered/s  achieved/s     2xx/s   offered  not_sent    failed   ack p50   ack p99   ack max\n";
  for (const auto& [kind, k] : r.stats.kinds) {
    std::snprintf(line, sizeof line, "%-11s %10.1f %11.1f %9.1f %9llu %9llu %9llu %9s %9s %9s\n",
                  kind.c_str(), per_s(k.offered, r.duration_s), per_s(k.answered, r.duration_s),
                  per_s(k.status_class(2), r.duration_s), static_cast<unsigned long long>(k.offered),
                  static_cast<unsigned long long>(k.not_sent), static_cast<unsigned long long>(k.failed),
                  fmt_ms(k.ack.percentile(0.5)).c_str(),
                  fmt_ms(k.ack.percentile(0.99)).c_str(),
                  fmt_ms(k.ack.max()).c_str());
    out << line;
    out << "            statuses:";
    for (auto [s, n] : k.statuses) out << " " << s << "=" << n;
    if (k.statuses.empty()) out << " none";
    out << "\n";
  }

  const auto& t = r.stats.turns;
  if (r.stats.kinds.count("chat_turn")) {
    out << "\nchat turns: accepted " << t.accepted << ", replied " << t.replied << ", dropped "
        << t.dropped_total() << ", nothing " << t.nothing();
    if (!t.events_available) out << " (events route unavailable: outcomes unknown)";
    out << "\n  chat turn -> npc_message latency p50 " << fmt_ms(t.reply_latency.percentile(0.5))
        << ", p99 " << fmt_ms(t.reply_latency.percentile(0.99)) << "\n";
    if (!t.dropped.empty()) {
      out << "  dropped by reason:";
      for (const auto& [why, n] : t.dropped) out << " " << why << "=" << n;
      out << "\n";
    }
    if (!t.events_by_type.empty()) {
      out << "  events seen:";
      for (const auto& [ty, n] : t.events_by_type) out << " " << ty << "=" << n;
      out << "\n";
    }
  }

  if (r.stats.malformed.sent() > 0) {
    out << "\nmalformed: " << r.stats.malformed.sent() << " sent, check "
        << (r.stats.malformed.all_4xx() ? "PASS (all 4xx)" : "FAIL (not all 4xx)") << "\n";
    out << "  kind                    sent   4xx   2xx   5xx dropped  statuses\n";
    for (const auto& [kind, k] : r.stats.malformed.by_kind) {
      std::snprintf(line, sizeof line, "  %-22s %5llu %5llu %5llu %5llu %7llu  ", kind.c_str(),
                    static_cast<unsigned long long>(k.sent), static_cast<unsigned long long>(k.got_4xx),
                    static_cast<unsigned long long>(k.got_2xx), static_cast<unsigned long long>(k.got_5xx),
                    static_cast<unsigned long long>(k.dropped));
      out << line;
      for (auto [s, n] : k.statuses) out << s << "=" << n << " ";
      out << "\n";
    }
  }

  out << "\ndaemon /metrics (over this run)";
  if (!r.metrics_available) {
    out << ": n/a (" << r.metrics_error << ")\n";
  } else {
    out << "\n  queue          wait p50   wait p99  deadline_miss   accepted   rejected       shed  coalesced  depth\n";
    for (const auto& q : queue_table(r.metrics)) {
      std::snprintf(line, sizeof line, "  %-12s %10s %10s %14s %10s %10s %10s %10s %6s\n", q.queue.c_str(),
                    fmt_ms(q.wait_p50_s, "%g").c_str(), fmt_ms(q.wait_p99_s, "%g").c_str(),
                    fmt(q.deadline_misses).c_str(), fmt(q.accepted).c_str(), fmt(q.rejected).c_str(),
                    fmt(q.shed).c_str(), fmt(q.coalesced).c_str(), fmt(q.depth).c_str());
      out << line;
    }
    const auto d = daemon_totals(r.metrics);
    out << "  (wait percentiles are histogram bucket upper bounds)\n";
    out << "  block writes " << fmt(d.block_writes) << " vs naive " << fmt(d.block_writes_naive)
        << " (ratio " << fmt(ratio(d.block_writes, d.block_writes_naive), "%.3f") << ")\n";
    out << "  letta calls " << fmt(d.letta_calls) << ", retries " << fmt(d.letta_retries)
        << ", snapshots applied " << fmt(d.snapshots_applied) << "\n";
  }
  out << "healthz at end: " << (r.healthz_at_end ? std::to_string(r.healthz_at_end) : "no answer") << "\n";
}

void print_json(const run_report& r, std::ostream& out) {
  rapidjson::OStreamWrapper os(out);
  json_writer w(os);
  w.StartObject();
  w.Key("scenario");
  w.String(r.scenario);
  w.Key("mode");
  w.String(r.mode);
  w.Key("target");
  w.String(r.target);
  w.Key("registry");
  w.String(r.registry_note);
  w.Key("games");
  w.Int(r.games);
  w.Key("connections");
  w.Int(r.connections);
  w.Key("threads");
  w.Int(r.threads);
  w.Key("duration_s");
  w.Double(r.duration_s);
  w.Key("elapsed_s");
  w.Double(r.elapsed_s);

  w.Key("requests");
  w.StartObject();
  for (const auto& [kind, k] : r.stats.kinds) {
    key(w, kind);
    w.StartObject();
    w.Key("offered");
    w.Uint64(k.offered);
    w.Key("sent");
    w.Uint64(k.sent);
    w.Key("not_sent");
    w.Uint64(k.not_sent);
    w.Key("answered");
    w.Uint64(k.answered);
    w.Key("failed");
    w.Uint64(k.failed);
    w.Key("offered_per_s");
    w.Double(per_s(k.offered, r.duration_s));
    w.Key("achieved_per_s");
    w.Double(per_s(k.answered, r.duration_s));
    w.Key("ok_per_s");
    w.Double(per_s(k.status_class(2), r.duration_s));
    w.Key("statuses");
    w.StartObject();
    for (auto [s, n] : k.statuses) {
      key(w, std::to_string(s));
      w.Uint64(n);
    }
    w.EndObject();
    opt(w, "ack_p50_ms", k.ack.percentile(0.5) ? std::optional(*k.ack.percentile(0.5) * 1e3) : std::nullopt);
    opt(w, "ack_p99_ms", k.ack.percentile(0.99) ? std::optional(*k.ack.percentile(0.99) * 1e3) : std::nullopt);
    opt(w, "ack_max_ms", k.ack.max() ? std::optional(*k.ack.max() * 1e3) : std::nullopt);
    w.EndObject();
  }
  w.EndObject();

  const auto& t = r.stats.turns;
  w.Key("chat");
  w.StartObject();
  w.Key("accepted");
  w.Uint64(t.accepted);
  w.Key("replied");
  w.Uint64(t.replied);
  w.Key("dropped");
  w.StartObject();
  for (const auto& [why, n] : t.dropped) {
    key(w, why);
    w.Uint64(n);
  }
  w.EndObject();
  w.Key("nothing");
  w.Uint64(t.nothing());
  auto ms = [](std::optional<double> v) { return v ? std::optional(*v * 1e3) : std::nullopt; };
  opt(w, "reply_p50_ms", ms(t.reply_latency.percentile(0.5)));
  opt(w, "reply_p99_ms", ms(t.reply_latency.percentile(0.99)));
  w.Key("events_available");
  w.Bool(t.events_available);
  w.Key("event_resets");
  w.Uint64(t.event_resets);
  w.Key("events");
  w.StartObject();
  for (const auto& [ty, n] : t.events_by_type) {
    key(w, ty);
    w.Uint64(n);
  }
  w.EndObject();
  w.EndObject();

  w.Key("malformed");
  w.StartObject();
  w.Key("sent");
  w.Uint64(r.stats.malformed.sent());
  w.Key("all_4xx");
  w.Bool(r.stats.malformed.all_4xx());
  w.Key("by_kind");
  w.StartObject();
  for (const auto& [kind, k] : r.stats.malformed.by_kind) {
    key(w, kind);
    w.StartObject();
    w.Key("sent");
    w.Uint64(k.sent);
    w.Key("4xx");
    w.Uint64(k.got_4xx);
    w.Key("2xx");
    w.Uint64(k.got_2xx);
    w.Key("5xx");
    w.Uint64(k.got_5xx);
    w.Key("dropped");
    w.Uint64(k.dropped);
    w.Key("statuses");
    w.StartObject();
    for (auto [s, n] : k.statuses) {
      key(w, std::to_string(s));
      w.Uint64(n);
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();

  w.Key("daemon");
  w.StartObject();
  w.Key("metrics_available");
  w.Bool(r.metrics_available);
  if (!r.metrics_available) {
    w.Key("metrics_error");
    w.String(r.metrics_error);
  }
  w.Key("queues");
  w.StartObject();
  for (const auto& q : queue_table(r.metrics)) {
    key(w, q.queue);
    w.StartObject();
    opt(w, "wait_p50_s", q.wait_p50_s);
    opt(w, "wait_p99_s", q.wait_p99_s);
    opt(w, "deadline_misses", q.deadline_misses);
    opt(w, "accepted", q.accepted);
    opt(w, "rejected", q.rejected);
    opt(w, "shed", q.shed);
    opt(w, "coalesced", q.coalesced);
    opt(w, "depth", q.depth);
    w.EndObject();
  }
  w.EndObject();
  const auto d = daemon_totals(r.metrics);
  opt(w, "block_writes", d.block_writes);
  opt(w, "block_writes_naive", d.block_writes_naive);
  opt(w, "block_write_ratio", ratio(d.block_writes, d.block_writes_naive));
  opt(w, "letta_calls", d.letta_calls);
  opt(w, "letta_retries", d.letta_retries);
  opt(w, "snapshots_applied", d.snapshots_applied);
  w.EndObject();
  w.Key("healthz_at_end");
  w.Int(r.healthz_at_end);
  w.EndObject();
  os.Flush();
  out << "\n";
}

}  // namespace orch::tools
