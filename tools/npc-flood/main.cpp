// npc-flood: synthetic floods against npc-orchestratord (DESIGN 7). Parses argv with CLI11
// (help generated, errors name the option), loads the scenario, hands over to run_flood.
// Exit codes: 0 run completed, 1 target unreachable, 2 usage or scenario error.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>

#include "tools/npc-flood/flood_runner.hpp"

namespace {

constexpr const char* description =
    "Simulates game servers (NPCs and players walking between the registry's locations, or\n"
    "standing at stalls) and floods the daemon with snapshots, chat turns and, in the\n"
    "malformed scenario, bad requests. Rate control is open loop: a request whose slot finds\n"
    "every connection busy is counted not_sent, never delayed. Prints a report at the end:\n"
    "offered vs achieved, statuses, ack latency, reply latency (202 -> the addressed NPC's\n"
    "npc_message), time to npc_typing, and the daemon's /metrics over the run (queues, block\n"
    "writes, block lag, Letta requests per reply and per snapshot, tokens).";

constexpr const char* footer =
    "Exit codes: 0 the run completed (even if the daemon rejected requests), 1 the target was\n"
    "unreachable, 2 usage or scenario error.";

// The defaults of --mode ingest when no scenario is given (DESIGN 9's ingest target).
orch::tools::scenario ingest_defaults() {
  orch::tools::scenario s;
  s.name = "ingest";
  s.games = 1000;
  s.npcs_per_game = 50;
  s.players_per_game = 50;
  s.connections = 32;
  s.duration_s = 10;
  s.drain_s = 1;
  s.chat_turns_per_s = 0;
  s.listen_events = false;
  return s;
}

int usage_error(const std::string& what) {
  std::cerr << "npc-flood: " << what << "\n(see npc-flood --help)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace orch::tools;
  flood_options o;
  std::string target, scenario_file, metrics_url, mode = "scenario";
  double duration = 0, rate = 0;
  int connections = 0, games = 0, threads = 2;
  bool daemon_settings = false;

  CLI::App app(description, "npc-flood");
  app.footer(footer);
  app.add_option("--target", target,
                 "daemon base URL, e.g. http://127.0.0.1:8080; loopback only (127.x.x.x, localhost, [::1])")
      ->option_text("URL");
  app.add_option("--scenario", scenario_file, "scenario YAML (etc/scenarios/*.yaml)")->option_text("FILE");
  app.add_option("--duration", duration, "offer requests for S seconds (overrides duration_s)")
      ->check(CLI::Range(0.1, 86400.0))
      ->option_text("S (0.1-86400)");
  app.add_option("--rate", rate,
                 "total requests/s: scales the scenario's snapshot and chat rates to sum to N; in ingest "
                 "mode, open-loop snapshots/s (default: closed loop)")
      ->check(CLI::PositiveNumber)
      ->option_text("N");
  app.add_flag("--json", o.json, "print the report as one JSON object");
  app.add_flag("--game-id-header", o.game_id_header,
               "send X-Game-Id on every snapshot and chat turn (several daemons behind nginx route by it)");
  app.add_option("--game-prefix", o.game_prefix,
                 "scenario game ids are PREFIX1..PREFIXn (default flood-); floods run side by side with "
                 "different prefixes simulate different games")
      ->option_text("PREFIX");
  app.add_option("--transcript", o.transcript,
                 "end the report with N answered turns: who said what to whom, and the NPC's answer")
      ->check(CLI::Range(0, 1000))
      ->option_text("N (0-1000)");
  app.add_option("--metrics-url", metrics_url, "where to read Prometheus metrics (default: TARGET/metrics)")
      ->option_text("URL");
  app.add_option("--mode", mode,
                 "scenario, or ingest: every connection posts original-format snapshots (50 NPCs + 50 "
                 "players by default) for many games back to back, to measure ingest throughput")
      ->check(CLI::IsMember({"scenario", "ingest"}))
      ->option_text("scenario|ingest");
  app.add_option("--connections", connections, "keep-alive connections (overrides the scenario's)")
      ->check(CLI::Range(1, 4096))
      ->option_text("N (1-4096)");
  app.add_option("--games", games, "simulated games (overrides the scenario's)")
      ->check(CLI::Range(1, 100000))
      ->option_text("N (1-100000)");
  app.add_option("--threads", threads, "client threads (default 2)")->check(CLI::Range(1, 64))->option_text("N (1-64)");
  app.add_flag("--daemon-settings", daemon_settings,
               "print the scenario's daemon_settings as key=value lines (for --set) and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }

  if (daemon_settings) {
    if (scenario_file.empty()) return usage_error("--daemon-settings needs --scenario");
    try {
      for (const auto& [k, v] : load_scenario(scenario_file).daemon_settings) std::cout << k << "=" << v << "\n";
    } catch (const std::exception& e) {
      std::cerr << "npc-flood: " << e.what() << "\n";
      return 2;
    }
    return 0;
  }
  if (target.empty()) return usage_error("--target is required");
  std::string error;
  auto t = parse_target(target, error);
  if (!t) return usage_error("--target " + target + ": " + error);
  o.target = *t;
  o.target_text = target;
  if (!metrics_url.empty()) {
    o.metrics = parse_target(metrics_url, error);
    if (!o.metrics) return usage_error("--metrics-url " + metrics_url + ": " + error);
  }
  o.ingest = mode == "ingest";
  if (scenario_file.empty() && !o.ingest) return usage_error("--scenario is required");
  try {
    o.sc = scenario_file.empty() ? ingest_defaults() : load_scenario(scenario_file);
  } catch (const std::exception& e) {
    std::cerr << "npc-flood: " << e.what() << "\n";
    return 2;
  }
  if (duration > 0) o.sc.duration_s = duration;
  if (connections > 0) o.sc.connections = connections;
  if (games > 0) o.sc.games = games;
  resolve_address_rate(o.sc);
  o.threads = threads;
  if (o.ingest) {
    o.rate = rate;
    o.sc.listen_events = false;
  } else {
    apply_rate(o.sc, rate);
  }
  try {
    return run_flood(o, std::cout, std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "npc-flood: " << e.what() << "\n";
    return 1;
  }
}
