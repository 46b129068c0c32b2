// npc-orchestratord --config FILE [--set path.to.key=value]... [--check-config]
// Parses argv, loads the config, builds the app; maps failures to exit codes
// (0 ok, 1 invalid config or startup failure, 2 usage).
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/app.hpp"
#include "daemon/config_loader.hpp"
#include "daemon/log.hpp"

namespace {

constexpr const char* usage =
    "usage: npc-orchestratord --config FILE [--set path.to.key=value]... [--check-config]\n"
    "  --config FILE     YAML configuration (see etc/npc-orchestrator.yaml)\n"
    "  --set K=V         override one key (repeatable; the last one wins)\n"
    "  --check-config    validate the configuration and exit 0 (valid) or 1\n";

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  std::vector<std::string> sets;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    if (a == "--config") {
      if (!value(config_path)) return std::fputs(usage, stderr), 2;
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "--set") {
      std::string s;
      if (!value(s)) return std::fputs(usage, stderr), 2;
      sets.push_back(std::move(s));
    } else if (a.rfind("--set=", 0) == 0) {
      sets.emplace_back(a.substr(6));
    } else if (a == "--check-config") {
      check_only = true;
    } else if (a == "--help" || a == "-h") {
      std::fputs(usage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "unknown argument: %s\n%s", argv[i], usage);
      return 2;
    }
  }
  if (config_path.empty()) return std::fputs(usage, stderr), 2;

  try {
    auto cfg = orch::daemon::load_config(config_path, sets);
    if (check_only) {
      std::printf("%s: configuration is valid\n", config_path.c_str());
      return 0;
    }
    // run() returns after the drain and the flush window with every io thread joined; the app
    // then unwinds in reverse start order (app.cpp) and main returns its exit code.
    orch::daemon::app a(std::move(cfg), std::move(sets));
    return a.run();
  } catch (const orch::daemon::config_error& e) {
    for (auto& line : e.errors) std::fprintf(stderr, "%s: %s\n", config_path.c_str(), line.c_str());
    return 1;
  } catch (const std::exception& e) {
    orch::daemon::log(orch::daemon::log_level::error, e.what());
    return 1;
  }
}
