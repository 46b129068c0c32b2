// npc-flood: synthetic floods against npc-orchestratord (DESIGN 7). Parses argv, loads the
// scenario, hands over to run_flood. Exit codes: 0 run completed, 1 target unreachable,
// 2 usage or scenario error.
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tools/npc-flood/flood_runner.hpp"

namespace {

constexpr const char* usage_text =
    R"(usage: npc-flood --target URL --scenario FILE [options]
       npc-flood --target URL --mode ingest [--scenario FILE] [options]

Simulates game servers (NPCs and players walking between the registry's locations) and
floods the daemon with snapshots, chat turns and, in the malformed scenario, bad requests.
Rate control is open loop: a request whose slot finds every connection busy is counted
not_sent, never delayed. Prints a report at the end (offered vs achieved, statuses, ack
latency, chat-turn -> npc_message latency, and the daemon's /metrics over the run).

  --target URL        daemon base URL, e.g. http://127.0.0.1:8080. Loopback only: the host
                      must be 127.0.0.1 (127.x.x.x), localhost or [::1]; others are refused.
  --scenario FILE     scenario YAML (etc/scenarios/*.yaml)
  --duration S        offer requests for S seconds (overrides duration_s)
  --rate N            total requests/s: scales the scenario's snapshot and chat rates to sum
                      to N; in ingest mode, open-loop snapshots/s (default: closed loop)
  --json              print the report as one JSON object
  --metrics-url URL   where to read Prometheus metrics (default: TARGET/metrics)
  --mode M            scenario (default) or ingest: every connection posts original-format
                      snapshots (50 NPCs + 50 players by default) for many distinct games
                      back to back, to measure ingest throughput (also against nginx)
  --connections N     keep-alive connections (overrides the scenario's)
  --games N           simulated games (overrides the scenario's)
  --threads N         client threads (default 2)
  -h, --help          this text

Exit codes: 0 the run completed (even if the daemon rejected requests), 1 the target was
unreachable, 2 usage or scenario error.
)";

int usage_error(const std::string& what) {
  std::cerr << "npc-flood: " << what << "\n(see npc-flood --help)\n";
  return 2;
}

bool parse_number(const std::string& s, double& out) {
  try {
    std::size_t used = 0;
    out = std::stod(s, &used);
    return used == s.size();
  } catch (const std::exception&) {
    return false;
  }
}

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

}  // namespace

int main(int argc, char** argv) {
  using namespace orch::tools;
  flood_options o;
  std::string target, scenario_file, metrics_url, mode = "scenario";
  double duration = 0, rate = 0, connections = 0, games = 0, threads = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&](std::string& into) {
      if (i + 1 >= argc) return false;
      into = argv[++i];
      return true;
    };
    auto number = [&](double& into, double min) {
      std::string v;
      return value(v) && parse_number(v, into) && into >= min;
    };
    if (a == "-h" || a == "--help") {
      std::cout << usage_text;
      return 0;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--target") {
      if (!value(target)) return usage_error("--target needs a URL");
    } else if (a == "--scenario") {
      if (!value(scenario_file)) return usage_error("--scenario needs a file");
    } else if (a == "--metrics-url") {
      if (!value(metrics_url)) return usage_error("--metrics-url needs a URL");
    } else if (a == "--mode") {
      if (!value(mode) || (mode != "scenario" && mode != "ingest")) {
        return usage_error("--mode is scenario or ingest");
      }
    } else if (a == "--duration") {
      if (!number(duration, 0.1)) return usage_error("--duration needs seconds >= 0.1");
    } else if (a == "--rate") {
      if (!number(rate, 0.001)) return usage_error("--rate needs a positive number");
    } else if (a == "--connections") {
      if (!number(connections, 1) || connections > 4096) return usage_error("--connections needs 1..4096");
    } else if (a == "--games") {
      if (!number(games, 1) || games > 100000) return usage_error("--games needs 1..100000");
    } else if (a == "--threads") {
      if (!number(threads, 1) || threads > 64) return usage_error("--threads needs 1..64");
    } else {
      return usage_error("unknown argument '" + std::string(a) + "'");
    }
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
  if (connections > 0) o.sc.connections = static_cast<int>(connections);
  if (games > 0) o.sc.games = static_cast<int>(games);
  o.threads = static_cast<int>(threads);
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
