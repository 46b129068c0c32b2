#pragma once
// Loads and validates the daemon's YAML configuration (DESIGN 6, 7; STYLE "Config").
//
// load_config() reads the file, applies `--set path=value` overrides in order (the last one
// wins), validates every key (unknown keys, wrong types, out-of-range values and duplicate
// keys are all errors), resolves relative paths against the config file's folder, reads the
// token files and loads the world registry (`world.registry_file`).
//
// Pure functions of their inputs plus the file system; no globals, safe to call from any
// thread. Failure: throws config_error listing every error found, each naming the YAML path
// and the 1-based line (or "(--set)"), e.g.
//   queues.urgent.max_latency_ms: expected a positive integer (line 7)
#include <stdexcept>
#include <string>
#include <vector>

#include "daemon/config.hpp"

namespace orch::daemon {

struct config_error : std::runtime_error {
  explicit config_error(std::vector<std::string> errs);
  std::vector<std::string> errors;  // one line each; what() joins them with '\n'
};

// Loads `path`, applies overrides ("a.b.c=value", value parsed as a YAML scalar).
config load_config(const std::string& path, const std::vector<std::string>& set_overrides);

// Same from YAML text; relative paths resolve against base_dir. source_name prefixes errors
// that concern the text as a whole (e.g. a YAML syntax error).
config load_config_text(const std::string& yaml_text, const std::string& base_dir,
                        const std::vector<std::string>& set_overrides, const std::string& source_name = "<text>");

// Loads a world registry file (etc/world.yaml). Throws config_error; errors name the file,
// the path (`npcs[3].agent_id`) and the line.
workers::world_registry load_world_registry(const std::string& path);

}  // namespace orch::daemon
