#include "tools/npc-flood/flood_runner.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "tools/npc-flood/flood_shard.hpp"
#include "tools/npc-flood/http_connection.hpp"
#include "tools/npc-flood/report.hpp"

namespace orch::tools {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::optional<tcp::endpoint> resolve(const target_url& t, std::string& error) {
  asio::io_context io;
  tcp::resolver res(io);
  boost::system::error_code ec;
  auto results = res.resolve(t.host, std::to_string(t.port), ec);
  if (ec || results.empty()) {
    error = "cannot resolve " + t.host + ": " + ec.message();
    return std::nullopt;
  }
  return results.begin()->endpoint();
}

// One request on a fresh connection, run to completion on a private io_context.
http_result fetch(const tcp::endpoint& ep, const target_url& t, const std::string& path,
                  std::chrono::milliseconds timeout) {
  asio::io_context io;
  auto conn = std::make_shared<http_connection>(io, ep, t.host_header(), timeout);
  raw_request r;
  r.method = "GET";
  r.content_type.clear();
  r.target = path;
  http_result out;
  conn->send(r, [&](http_result res) { out = std::move(res); });
  io.run();
  conn->close();
  return out;
}

}  // namespace

int run_flood(const flood_options& o, std::ostream& out, std::ostream& err) {
  std::string error;
  const auto ep = resolve(o.target, error);
  if (!ep) {
    err << "npc-flood: " << error << "\n";
    return 1;
  }
  const auto probe_timeout = std::chrono::milliseconds(o.sc.request_timeout_ms);
  const auto probe = fetch(*ep, o.target, "/healthz", probe_timeout);
  if (probe.status == 0) {
    err << "npc-flood: target " << o.target_text << " unreachable: " << probe.ec.message() << "\n";
    return 1;
  }

  const target_url mt = o.metrics.value_or(o.target);
  const std::string metrics_path = o.metrics && !o.metrics->path.empty() ? o.metrics->path : "/metrics";
  std::string metrics_error;
  const auto metrics_ep = resolve(mt, metrics_error);
  auto read_metrics = [&](std::optional<prom_text>& into) {
    if (!metrics_ep) return;
    const auto r = fetch(*metrics_ep, mt, metrics_path, probe_timeout);
    if (r.status == 200) {
      into.emplace(r.body);
    } else {
      metrics_error = r.status ? "GET " + metrics_path + " answered " + std::to_string(r.status)
                               : "GET " + metrics_path + ": " + r.ec.message();
    }
  };
  std::optional<prom_text> before;
  read_metrics(before);

  const scenario& sc = o.sc;
  const auto reg = load_flood_registry(sc.registry_file, sc.npcs_per_game, sc.world_size);
  if (sc.stalls > static_cast<int>(reg.waypoints.size())) {
    err << "npc-flood: scenario " << sc.name << ": stalls: " << sc.stalls << " but the world has only "
        << reg.waypoints.size() << " locations (" << reg.note << ")\n";
    return 2;
  }
  const int shards = std::max(1, std::min({o.threads, sc.games, sc.connections}));
  std::vector<std::unique_ptr<flood_shard>> workers;
  for (int s = 0; s < shards; ++s) {
    shard_plan p;
    p.index = s;
    p.endpoint = *ep;
    p.host = o.target.host_header();
    for (int g = s; g < sc.games; g += shards) p.games.push_back(g + 1);
    p.connections = sc.connections / shards + (s < sc.connections % shards ? 1 : 0);
    p.snapshot_interval_s = sc.snapshot_interval_ms / 1000.0;
    p.chat_turns_per_s = sc.chat_turns_per_s * static_cast<double>(p.games.size()) / sc.games;
    p.malformed_share = sc.malformed_share;
    p.duration_s = sc.duration_s;
    p.drain_s = sc.drain_s;
    p.timeout = std::chrono::milliseconds(sc.request_timeout_ms);
    p.seed = sc.seed;
    p.listen_events = sc.listen_events;
    p.mix = sc.mix;
    p.stalls = {sc.stalls, sc.swap_period_s};
    p.address_round_robin = sc.address_period_s > 0;
    p.ingest = o.ingest;
    p.ingest_rate = o.ingest ? o.rate / shards : 0;
    p.game_id_header = o.game_id_header;
    p.game_prefix = o.game_prefix;
    workers.push_back(std::make_unique<flood_shard>(std::move(p), reg, sc.players_per_game));
  }

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  run_report rep;
  rep.scenario = sc.name;
  rep.mode = o.ingest ? "ingest" : "scenario";
  rep.target = o.target_text;
  rep.registry_note = reg.note;
  auto secs = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g s", v);
    return std::string(b);
  };
  if (sc.stalls > 0) {
    rep.registry_note += "; " + std::to_string(sc.stalls) + " stalls, swaps every " +
                         (sc.swap_period_s > 0 ? secs(sc.swap_period_s) : std::string("never"));
  }
  if (sc.address_period_s > 0) {
    rep.registry_note += "; each NPC addressed every " + secs(sc.address_period_s);
  }
  rep.games = sc.games;
  rep.connections = sc.connections;
  rep.threads = shards;
  rep.duration_s = sc.duration_s;
  rep.elapsed_s = elapsed;
  rep.transcript = o.transcript;
  for (auto& w : workers) rep.stats.merge(w->stats());

  std::optional<prom_text> after;
  read_metrics(after);
  if (after) {
    rep.metrics_available = !after->empty();
    rep.metrics = before ? prom_text::delta(*before, *after) : *after;
    if (after->empty()) rep.metrics_error = "no samples in /metrics";
  } else {
    rep.metrics_error = metrics_error;
  }
  rep.healthz_at_end = fetch(*ep, o.target, "/healthz", probe_timeout).status;

  if (o.json)
    print_json(rep, out);
  else
    print_table(rep, out);
  return 0;
}

}  // namespace orch::tools
