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
  std::optional<double> block_writes, block_writes_naive, letta_calls, letta_retries, snapshots_applied,
      snapshots_stale;
};

daemon_figures daemon_totals(const prom_text& m) {
  return {m.sum("npcorch_letta_block_writes_total"), m.sum("npcorch_letta_block_writes_naive_total"),
          m.sum("npcorch_letta_calls_total"),        m.sum("npcorch_letta_retries_total"),
          m.sum("npcorch_snapshots_applied_total"),  m.sum("npcorch_snapshots_stale_total")};
}

// JSON helpers: n/a is null.
using json_writer = rapidjson::Writer<rapidjson::OStreamWrapper>;
void key(json_writer& w, const std::string& k) { w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size())); }
void opt(json_writer& w, const char* key, std::optional<double> v) {
  w.Key(key);
  if (v && std::isfinite(*v))
    w.Double(*v);
  else if (v && std::isinf(*v))
    w.String("+Inf");
  else
    w.Null();
}

}  // namespace

letta_figures letta_table(const prom_text& m, const turn_stats& t) {
  letta_figures f;
  for (const auto& sample : m.samples()) {
    for (const char* name :
         {"npcorch_reply_latency_seconds", "npcorch_block_lag_seconds", "npcorch_letta_requests_total",
          "npcorch_letta_block_reads_skipped_total", "npcorch_letta_tokens_total"}) {
      if (sample.name.rfind(name, 0) == 0) f.exported = true;
    }
  }
  f.reply_p50_s = m.quantile_bound("npcorch_reply_latency_seconds", 0.50);
  f.reply_p95_s = m.quantile_bound("npcorch_reply_latency_seconds", 0.95);
  f.block_lag_p95_s = m.quantile_bound("npcorch_block_lag_seconds", 0.95);
  const std::string req = "npcorch_letta_requests_total";
  f.message = m.sum(req, {{"kind", "message"}});
  f.block_read = m.sum(req, {{"kind", "block_read"}});
  f.block_write = m.sum(req, {{"kind", "block_write"}});
  f.conversation = m.sum(req, {{"kind", "conversation"}});
  f.requests_total = m.sum(req);
  f.reads_skipped = m.sum("npcorch_letta_block_reads_skipped_total");
  f.prompt_tokens = m.sum("npcorch_letta_tokens_total", {{"type", "prompt"}});
  f.completion_tokens = m.sum("npcorch_letta_tokens_total", {{"type", "completion"}});
  std::optional<double> replies;
  if (auto it = t.events_by_type.find("npc_message"); it != t.events_by_type.end()) {
    replies = static_cast<double>(it->second);
  }
  f.requests_per_reply = ratio(f.message, replies);
  std::optional<double> block_side;
  for (auto part : {f.block_read, f.block_write, f.conversation}) {
    if (part) block_side = block_side.value_or(0) + *part;
  }
  f.requests_per_snapshot = ratio(block_side, m.sum("npcorch_snapshots_applied_total"));
  std::optional<double> tokens;
  for (auto part : {f.prompt_tokens, f.completion_tokens}) {
    if (part) tokens = tokens.value_or(0) + *part;
  }
  f.tokens_per_reply = ratio(tokens, replies);
  return f;
}

std::vector<exchange> pick_exchanges(const std::vector<exchange>& answered, std::size_t n) {
  // Turns addressed to an NPC show best who said what to whom: take those when there are any.
  std::vector<exchange> all;
  for (const auto& x : answered) {
    if (!x.target.empty()) all.push_back(x);
  }
  if (all.empty()) all = answered;
  if (n == 0 || all.empty()) return {};
  if (n >= all.size()) return all;
  std::vector<exchange> out;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t at = n == 1 ? 0 : i * (all.size() - 1) / (n - 1);
    out.push_back(all[at]);
  }
  return out;
}

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
  std::snprintf(line, sizeof line, "  %d games, %d connections, %d threads, offered for %.1f s, ran %.1f s\n", r.games,
                r.connections, r.threads, r.duration_s, r.elapsed_s);
  out << line << "  world: " << r.registry_note << "\n\n";

  out << "requests     offered/s  achieved/s     2xx/s   offered  not_sent    failed   ack p50   ack p99   ack max\n";
  for (const auto& [kind, k] : r.stats.kinds) {
    std::snprintf(line, sizeof line, "%-11s %10.1f %11.1f %9.1f %9llu %9llu %9llu %9s %9s %9s\n", kind.c_str(),
                  per_s(k.offered, r.duration_s), per_s(k.answered, r.duration_s),
                  per_s(k.status_class(2), r.duration_s), static_cast<unsigned long long>(k.offered),
                  static_cast<unsigned long long>(k.not_sent), static_cast<unsigned long long>(k.failed),
                  fmt_ms(k.ack.percentile(0.5)).c_str(), fmt_ms(k.ack.percentile(0.99)).c_str(),
                  fmt_ms(k.ack.max()).c_str());
    out << line;
    out << "            statuses:";
    for (auto [s, n] : k.statuses) out << " " << s << "=" << n;
    if (k.statuses.empty()) out << " none";
    out << "\n";
  }

  const auto& t = r.stats.turns;
  if (r.stats.kinds.count("chat_turn")) {
    out << "\nchat turns: accepted " << t.accepted << ", replied " << t.replied << ", dropped " << t.dropped_total()
        << ", nothing " << t.nothing();
    if (!t.events_available) out << " (events route unavailable: outcomes unknown)";
    out << " (addressed to an NPC: " << t.addressed << ")";
    out << "\n  reply (202 -> addressed NPC's npc_message, n=" << t.reply_latency.count() << ") p50 "
        << fmt_ms(t.reply_latency.percentile(0.5)) << ", p95 " << fmt_ms(t.reply_latency.percentile(0.95)) << ", p99 "
        << fmt_ms(t.reply_latency.percentile(0.99)) << "\n";
    out << "  first npc_message for a turn (n=" << t.first_reply_latency.count() << ") p50 "
        << fmt_ms(t.first_reply_latency.percentile(0.5)) << ", p99 " << fmt_ms(t.first_reply_latency.percentile(0.99))
        << "\n";
    out << "  time to npc_typing (202 -> typing, n=" << t.typing_latency.count() << ") p50 "
        << fmt_ms(t.typing_latency.percentile(0.5)) << ", p95 " << fmt_ms(t.typing_latency.percentile(0.95)) << "\n";
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
    out << "  block writes " << fmt(d.block_writes) << " vs naive " << fmt(d.block_writes_naive) << " (ratio "
        << fmt(ratio(d.block_writes, d.block_writes_naive), "%.3f") << ")\n";
    out << "  letta calls " << fmt(d.letta_calls) << ", retries " << fmt(d.letta_retries) << ", snapshots applied "
        << fmt(d.snapshots_applied) << "\n";
    const auto l = letta_table(r.metrics, t);
    if (!l.exported) {
      out << "  reply latency, block lag, Letta requests, tokens: n/a (this daemon does not export\n"
             "  npcorch_reply_latency_seconds, npcorch_block_lag_seconds, npcorch_letta_requests_total,\n"
             "  npcorch_letta_tokens_total)\n";
    } else {
      out << "  daemon reply latency p50 " << fmt_ms(l.reply_p50_s, "%g") << ", p95 " << fmt_ms(l.reply_p95_s, "%g")
          << "; block lag p95 " << fmt_ms(l.block_lag_p95_s, "%g") << " (bucket bounds)\n";
      out << "  letta requests " << fmt(l.requests_total) << ": message " << fmt(l.message) << ", block_read "
          << fmt(l.block_read) << ", block_write " << fmt(l.block_write) << ", conversation " << fmt(l.conversation)
          << "; block reads skipped " << fmt(l.reads_skipped) << "\n";
      out << "  message requests per npc_message " << fmt(l.requests_per_reply, "%.2f")
          << ", block/conversation requests per snapshot " << fmt(l.requests_per_snapshot, "%.2f") << "\n";
      out << "  tokens prompt " << fmt(l.prompt_tokens) << ", completion " << fmt(l.completion_tokens)
          << " (per npc_message " << fmt(l.tokens_per_reply, "%.1f") << ")\n";
    }
  }
  out << "healthz at end: " << (r.healthz_at_end ? std::to_string(r.healthz_at_end) : "no answer") << "\n";
  if (r.transcript > 0) {
    const auto picked = pick_exchanges(t.transcript, r.transcript);
    out << "\ntranscript (" << picked.size() << " of the run's answered turns";
    if (picked.empty()) out << ": none answered";
    out << ")\n";
    for (const auto& x : picked) {
      out << "  [" << x.game << "] " << x.speaker << " -> " << (x.target.empty() ? "anyone" : x.target) << ": \""
          << x.text << "\"\n";
      std::snprintf(line, sizeof line, "%.2f s", x.latency_s);
      out << "      " << x.npc << " (" << line << " after the 202): \"" << x.reply << "\"\n";
    }
  }
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
  w.Key("addressed");
  w.Uint64(t.addressed);
  w.Key("typed");
  w.Uint64(t.typed);
  opt(w, "reply_p50_ms", ms(t.reply_latency.percentile(0.5)));
  opt(w, "reply_p95_ms", ms(t.reply_latency.percentile(0.95)));
  opt(w, "reply_p99_ms", ms(t.reply_latency.percentile(0.99)));
  opt(w, "first_reply_p50_ms", ms(t.first_reply_latency.percentile(0.5)));
  opt(w, "first_reply_p99_ms", ms(t.first_reply_latency.percentile(0.99)));
  opt(w, "typing_p50_ms", ms(t.typing_latency.percentile(0.5)));
  opt(w, "typing_p95_ms", ms(t.typing_latency.percentile(0.95)));
  w.Key("events_available");
  w.Bool(t.events_available);
  w.Key("event_resets");
  w.Uint64(t.event_resets);
  w.Key("events_unmatched");
  w.Uint64(t.events_unmatched);
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
  const auto l = letta_table(r.metrics, t);
  opt(w, "reply_p50_s", l.reply_p50_s);
  opt(w, "reply_p95_s", l.reply_p95_s);
  opt(w, "block_lag_p95_s", l.block_lag_p95_s);
  w.Key("letta_requests");
  w.StartObject();
  opt(w, "message", l.message);
  opt(w, "block_read", l.block_read);
  opt(w, "block_write", l.block_write);
  opt(w, "conversation", l.conversation);
  opt(w, "total", l.requests_total);
  opt(w, "block_reads_skipped", l.reads_skipped);
  opt(w, "per_reply", l.requests_per_reply);
  opt(w, "per_snapshot", l.requests_per_snapshot);
  w.EndObject();
  w.Key("tokens");
  w.StartObject();
  opt(w, "prompt", l.prompt_tokens);
  opt(w, "completion", l.completion_tokens);
  opt(w, "per_reply", l.tokens_per_reply);
  w.EndObject();
  w.EndObject();
  w.Key("healthz_at_end");
  w.Int(r.healthz_at_end);
  w.Key("transcript");
  w.StartArray();
  for (const auto& x : pick_exchanges(t.transcript, r.transcript)) {
    w.StartObject();
    w.Key("game");
    w.String(x.game);
    w.Key("speaker");
    w.String(x.speaker);
    w.Key("target");
    w.String(x.target);
    w.Key("text");
    w.String(x.text);
    w.Key("npc");
    w.String(x.npc);
    w.Key("reply");
    w.String(x.reply);
    w.Key("latency_ms");
    w.Double(x.latency_s * 1e3);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  os.Flush();
  out << "\n";
}

}  // namespace orch::tools
