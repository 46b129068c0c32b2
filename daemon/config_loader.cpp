#include "daemon/config_loader.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "common/address.hpp"
#include "daemon/config_yaml.hpp"
#include "daemon/world_registry_loader.hpp"
#include "workers/redis_client.hpp"

namespace orch::daemon {

namespace {

namespace fs = std::filesystem;
using detail::unbounded;
using detail::yaml_entry;
using detail::yaml_reader;

std::string join_lines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& e : v) {
    if (!s.empty()) s += '\n';
    s += e;
  }
  return s;
}

std::string trim(std::string s) {
  auto sp = [](unsigned char c) { return std::isspace(c) != 0; };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), sp));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), sp).base(), s.end());
  return s;
}

bool valid_queue_name(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  return std::all_of(n.begin(), n.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

// http://host[:port][/prefix] in one spelling: "http://host:port/prefix" (no trailing '/').
std::optional<std::string> normalise_base_url(std::string_view url) {
  std::string error;
  auto u = common::parse_http_url(url, error);
  if (!u) return std::nullopt;
  return "http://" + common::format_host_port(u->host, u->port) + u->prefix();
}

std::string resolve(const std::string& p, const std::string& base_dir) {
  if (p.empty()) return p;
  fs::path path(p);
  if (path.is_absolute() || base_dir.empty()) return path.lexically_normal().string();
  return (fs::path(base_dir) / path).lexically_normal().string();
}

// ---------------------------------------------------------------------------------------
// --set overrides: applied to the parsed tree before validation, so one validator serves both.

// The node of a map entry (the last occurrence wins, as a later --set would).
std::optional<YAML::Node> find_child(YAML::Node& map, const std::string& key) {
  std::optional<YAML::Node> found;
  for (auto it = map.begin(); it != map.end(); ++it)
    if (it->first.IsScalar() && it->first.Scalar() == key) found = it->second;
  return found;
}

YAML::Node parse_override_value(const std::string& text) {
  try {
    YAML::Node n = YAML::Load(text);
    if (n.IsNull() || n.IsScalar()) return n;
  } catch (const YAML::Exception&) {}
  return YAML::Node(text);  // not a scalar in YAML's eyes: take it as the literal string
}

void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides, yaml_reader& r) {
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    std::vector<std::string> parts;
    if (eq != std::string::npos) {
      std::string path = o.substr(0, eq);
      std::size_t start = 0;
      while (true) {
        auto dot = path.find('.', start);
        parts.push_back(trim(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start)));
        if (dot == std::string::npos) break;
        start = dot + 1;
      }
    }
    if (eq == std::string::npos || std::any_of(parts.begin(), parts.end(), [](auto& p) { return p.empty(); })) {
      r.error_plain("--set '" + o + "': expected path.to.key=value");
      continue;
    }
    YAML::Node cur = root;
    std::string path;
    bool ok = true;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      path += (i ? "." : "") + parts[i];
      auto child = find_child(cur, parts[i]);
      // Node::operator= would overwrite the node `cur` points at; reset() re-points it.
      if (child && child->IsMap()) {
        cur.reset(*child);
        continue;
      }
      if (child && !child->IsNull()) {
        r.error_plain(path + ": is not a map, cannot --set '" + o.substr(0, eq) + "' (--set)");
        ok = false;
        break;
      }
      YAML::Node fresh(YAML::NodeType::Map);
      cur[parts[i]] = fresh;
      cur.reset(fresh);
    }
    if (!ok) continue;
    cur[parts.back()] = parse_override_value(o.substr(eq + 1));
    path += (parts.size() > 1 ? "." : "") + parts.back();
    r.mark_override(path);
  }
}

// ---------------------------------------------------------------------------------------
// Sections.

constexpr std::uint64_t hour_ms = 3'600'000;
constexpr std::uint64_t gib = 1ull << 30;

void read_server(yaml_reader& r, const yaml_entry& sec, server_options& s, std::optional<yaml_entry>& auth_entry) {
  r.walk(
      sec.value, sec.path, sec.mark,
      {{"listen",
        [&](const yaml_entry& e) {
          std::string v;
          if (!r.read_string(e, v, false)) return;
          std::string why;
          auto hp = common::parse_host_port(v, common::port_rule{std::nullopt, 0}, why);
          if (!hp) return r.error(e, "expected host:port with port in [0, 65535]");
          s.host = hp->host;
          s.port = hp->port;
        }},
       {"auth_token_file",
        [&](const yaml_entry& e) {
          if (r.read_string(e, s.auth_token_file)) auth_entry = e;
        }},
       {"max_body_bytes", [&](const yaml_entry& e) { r.read_uint(e, 1, gib, s.max_body_bytes); }},
       {"drain_timeout_ms", [&](const yaml_entry& e) { r.read_duration(e, 0, hour_ms, s.drain_timeout); }},
       {"read_timeout_ms", [&](const yaml_entry& e) { r.read_duration(e, 1, hour_ms, s.read_timeout); }},
       {"header_timeout_ms", [&](const yaml_entry& e) { r.read_duration(e, 1, hour_ms, s.header_timeout); }},
       {"shutdown_flush_ms", [&](const yaml_entry& e) { r.read_duration(e, 0, 60'000, s.shutdown_flush); }},
       {"max_connections_per_ip", [&](const yaml_entry& e) { r.read_uint(e, 1, 1'000'000, s.max_connections_per_ip); }},
       {"threads", [&](const yaml_entry& e) { r.read_uint(e, 1, 256, s.threads); }},
       {"max_connections", [&](const yaml_entry& e) { r.read_uint(e, 1, 1'000'000, s.max_connections); }},
       {"ws_outbound_max", [&](const yaml_entry& e) { r.read_uint(e, 1, 1'000'000, s.ws_outbound_max); }},
       {"ws_max_message_bytes", [&](const yaml_entry& e) { r.read_uint(e, 1, gib, s.ws_max_message_bytes); }}});
}

void read_queues(yaml_reader& r, const yaml_entry& sec, queues::queues_config& qc) {
  const auto defaults = queues::queues_config::defaults();
  std::vector<queues::queue_config> given;
  for (const auto& qe : r.entries(sec.value, sec.path, sec.mark)) {
    if (!valid_queue_name(qe.key)) {
      r.error(qe, "queue names must match [a-z0-9_]+ (at most 64 characters)");
      continue;
    }
    queues::queue_config q;
    if (auto i = defaults.index_of(qe.key))
      q = defaults.queues[*i];
    else
      q = {qe.key, std::chrono::milliseconds(1000), 1, 1000, queues::overflow_policy::reject};
    r.walk(qe.value, qe.path, qe.mark,
           {{"max_latency_ms", [&](const yaml_entry& e) { r.read_duration(e, 1, unbounded, q.max_latency); }},
            {"workers", [&](const yaml_entry& e) { r.read_uint(e, 1, 10'000, q.workers); }},
            {"capacity", [&](const yaml_entry& e) { r.read_uint(e, 1, 100'000'000, q.capacity); }},
            {"overflow", [&](const yaml_entry& e) {
               std::string v;
               if (!r.read_string(e, v, false)) return;
               if (v == "reject")
                 q.overflow = queues::overflow_policy::reject;
               else if (v == "shed_oldest")
                 q.overflow = queues::overflow_policy::shed_oldest;
               else
                 r.error(e, "expected one of: reject, shed_oldest");
             }}});
    given.push_back(std::move(q));
  }
  // Queues in YAML order, then the default queues the YAML did not mention.
  qc.queues = given;
  for (const auto& d : defaults.queues)
    if (!qc.index_of(d.name)) qc.queues.push_back(d);
}

// routes are read as names and resolved once the queues are known.
struct route_setting {
  std::string queue;
  yaml_entry where;
};

void read_routes(yaml_reader& r, const yaml_entry& sec,
                 std::array<std::optional<route_setting>, queues::message_kind_count>& routes) {
  for (const auto& e : r.entries(sec.value, sec.path, sec.mark)) {
    auto kind = queues::message_kind_from(e.key);
    if (!kind) {
      r.error(e, "unknown message kind (expected one of: snapshot, chat_turn, npc_reply, system_notice, memory_sync)");
      continue;
    }
    std::string q;
    if (!r.read_required_string(e, q)) continue;
    routes[static_cast<std::size_t>(*kind)] = route_setting{q, e};
  }
}

void read_world(yaml_reader& r, const yaml_entry& sec, workers::world_options& w,
                std::optional<yaml_entry>& registry_entry) {
  r.walk(
      sec.value, sec.path, sec.mark,
      {{"registry_file",
        [&](const yaml_entry& e) {
          if (r.read_string(e, w.registry_file)) registry_entry = e;
        }},
       {"cluster_radius_studs",
        [&](const yaml_entry& e) { r.read_number(e, 0, true, 10'000, w.cluster_radius_studs); }},
       {"movement_threshold_studs",
        [&](const yaml_entry& e) { r.read_number(e, 0, false, 1'000, w.movement_threshold_studs); }},
       {"stale_after_s", [&](const yaml_entry& e) { r.read_duration(e, 1, 86'400, w.stale_after); }},
       {"force_refresh_s", [&](const yaml_entry& e) { r.read_duration(e, 1, 86'400, w.force_refresh); }},
       {"player_cache_ttl_s", [&](const yaml_entry& e) { r.read_duration(e, 1, 30 * 86'400, w.player_cache_ttl); }}});
}

void read_conversation(yaml_reader& r, const yaml_entry& sec, policies::conversation_options& c) {
  r.walk(sec.value, sec.path, sec.mark,
         {{"max_responders", [&](const yaml_entry& e) { r.read_uint(e, 1, 100, c.max_responders); }},
          {"npc_cooldown_s", [&](const yaml_entry& e) { r.read_duration(e, 0, 86'400, c.npc_cooldown); }},
          {"max_concurrent_speakers", [&](const yaml_entry& e) { r.read_uint(e, 1, 100, c.max_concurrent_speakers); }},
          {"max_npc_chain", [&](const yaml_entry& e) { r.read_uint(e, 0, 100, c.max_npc_chain); }},
          {"entry_notice_cooldown_s",
           [&](const yaml_entry& e) { r.read_duration(e, 0, 86'400, c.entry_notice_cooldown); }},
          {"notice_delay_ms", [&](const yaml_entry& e) { r.read_duration(e, 0, 60'000, c.notice_delay); }},
          {"turn_timeout_s", [&](const yaml_entry& e) { r.read_duration(e, 1, 3'600, c.turn_timeout); }},
          {"player_turns_per_min", [&](const yaml_entry& e) { r.read_uint(e, 1, 100'000, c.player_turns_per_min); }},
          {"max_jobs_per_game", [&](const yaml_entry& e) { r.read_uint(e, 1, 1'000'000, c.max_jobs_per_game); }}});
}

void read_letta(yaml_reader& r, const yaml_entry& sec, workers::letta_options& l,
                std::optional<yaml_entry>& token_entry, std::optional<yaml_entry>& retry_max_entry) {
  r.walk(sec.value, sec.path, sec.mark,
         {{"backend",
           [&](const yaml_entry& e) {
             std::string v;
             if (!r.read_string(e, v, false)) return;
             if (v == "http")
               l.backend = workers::letta_backend::http;
             else if (v == "simulated")
               l.backend = workers::letta_backend::simulated;
             else
               r.error(e, "expected one of: http, simulated");
           }},
          {"conversations",
           [&](const yaml_entry& e) {
             std::string v;
             if (!r.read_string(e, v, false)) return;
             if (v == "per_game")
               l.conversations = workers::letta_conversations::per_game;
             else if (v == "agent")
               l.conversations = workers::letta_conversations::agent;
             else
               r.error(e, "expected one of: per_game, agent");
           }},
          {"base_url",
           [&](const yaml_entry& e) {
             std::string v;
             if (!r.read_string(e, v, false)) return;
             auto n = normalise_base_url(v);
             if (!n) return r.error(e, "expected http://host[:port][/prefix]");
             l.base_url = *n;
           }},
          {"token_file",
           [&](const yaml_entry& e) {
             if (r.read_string(e, l.token_file)) token_entry = e;
           }},
          {"timeout_ms", [&](const yaml_entry& e) { r.read_duration(e, 1, hour_ms, l.timeout); }},
          {"connect_timeout_ms", [&](const yaml_entry& e) { r.read_duration(e, 1, hour_ms, l.connect_timeout); }},
          {"max_response_bytes",
           [&](const yaml_entry& e) { r.read_uint(e, 1024, std::uint64_t{1} << 30, l.max_response_bytes); }},
          {"max_in_flight", [&](const yaml_entry& e) { r.read_uint(e, 1, 100'000, l.max_in_flight); }},
          {"rate",
           [&](const yaml_entry& sub) {
             r.walk(
                 sub.value, sub.path, sub.mark,
                 {{"global_per_s", [&](const yaml_entry& e) { r.read_number(e, 0, true, 1e6, l.global_per_s); }},
                  {"global_burst", [&](const yaml_entry& e) { r.read_number(e, 1, false, 1e6, l.global_burst); }},
                  {"per_agent_per_s", [&](const yaml_entry& e) { r.read_number(e, 0, true, 1e6, l.per_agent_per_s); }},
                  {"sync_share", [&](const yaml_entry& e) { r.read_number(e, 0, false, 1, l.sync_share); }}});
           }},
          {"retry",
           [&](const yaml_entry& sub) {
             r.walk(sub.value, sub.path, sub.mark,
                    {{"max_attempts", [&](const yaml_entry& e) { r.read_uint(e, 1, 100, l.retry_max_attempts); }},
                     {"base_ms", [&](const yaml_entry& e) { r.read_duration(e, 1, 600'000, l.retry_base); }},
                     {"max_ms", [&](const yaml_entry& e) {
                        if (r.read_duration(e, 1, hour_ms, l.retry_max)) retry_max_entry = e;
                      }}});
           }},
          {"breaker",
           [&](const yaml_entry& sub) {
             r.walk(sub.value, sub.path, sub.mark,
                    {{"failure_threshold",
                      [&](const yaml_entry& e) { r.read_uint(e, 1, 100'000, l.breaker_failure_threshold); }},
                     {"open_ms", [&](const yaml_entry& e) { r.read_duration(e, 1, hour_ms, l.breaker_open); }}});
           }},
          {"simulated", [&](const yaml_entry& sub) {
             r.walk(sub.value, sub.path, sub.mark,
                    {{"latency_ms", [&](const yaml_entry& e) { r.read_duration(e, 0, 600'000, l.simulated_latency); }},
                     {"block_latency_ms",
                      [&](const yaml_entry& e) { r.read_duration(e, 0, 600'000, l.simulated_block_latency); }}});
           }}});
}

void read_events(yaml_reader& r, const yaml_entry& sec, events_options& ev) {
  r.walk(sec.value, sec.path, sec.mark,
         {{"replay_capacity", [&](const yaml_entry& e) { r.read_uint(e, 1, 10'000'000, ev.replay_capacity); }},
          {"replay_bytes", [&](const yaml_entry& e) { r.read_uint(e, 1024, 1'073'741'824, ev.replay_bytes); }},
          {"max_games", [&](const yaml_entry& e) { r.read_uint(e, 1, 10'000'000, ev.max_games); }},
          {"game_idle_s", [&](const yaml_entry& e) { r.read_duration(e, 0, 30 * 24 * 3600, ev.game_idle); }},
          {"max_subscribers_per_game",
           [&](const yaml_entry& e) { r.read_uint(e, 1, 1'000'000, ev.max_subscribers_per_game); }},
          {"max_wait_ms", [&](const yaml_entry& e) { r.read_duration(e, 0, hour_ms, ev.max_wait); }}});
}

void read_memory(yaml_reader& r, const yaml_entry& sec, memory_options& m) {
  r.walk(sec.value, sec.path, sec.mark,
         {{"arena_max", [&](const yaml_entry& e) { r.read_uint(e, 0, 1024, m.arena_max); }},
          {"trim_interval_ms", [&](const yaml_entry& e) { r.read_duration(e, 0, hour_ms, m.trim_interval); }},
          {"stats_interval_ms", [&](const yaml_entry& e) { r.read_duration(e, 0, hour_ms, m.stats_interval); }}});
}

void read_redis(yaml_reader& r, const yaml_entry& sec, workers::redis_options& o) {
  r.walk(sec.value, sec.path, sec.mark,
         {{"url",
           [&](const yaml_entry& e) {
             std::string v;
             if (!r.read_string(e, v, true)) return;
             std::string host;
             int port = 0, db = 0;
             if (!v.empty() && !workers::parse_redis_url(v, host, port, db))
               return r.error(e, "expected redis://host:port[/db] or empty");
             o.url = v;
           }},
          {"key_prefix", [&](const yaml_entry& e) { r.read_string(e, o.key_prefix, true); }},
          {"timeout_ms", [&](const yaml_entry& e) { r.read_duration(e, 1, 60'000, o.timeout); }}});
}

// Reads a token file: trimmed, must be non-empty.
void read_token(yaml_reader& r, const std::optional<yaml_entry>& where, const std::string& file, std::string& out) {
  if (file.empty()) return;
  std::ifstream in(file, std::ios::binary);
  std::ostringstream ss;
  if (in) ss << in.rdbuf();
  auto report = [&](const std::string& msg) {
    if (where)
      r.error(*where, msg);
    else
      r.error_plain(msg);
  };
  if (!in) return report("cannot read token file '" + file + "'");
  out = trim(ss.str());
  if (out.empty()) report("token file '" + file + "' is empty");
}

config build(const std::string& text, const std::string& base_dir, const std::vector<std::string>& overrides,
             const std::string& source_name) {
  yaml_reader r;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw config_error({source_name + ": " + e.msg + " (line " + std::to_string(detail::line_of(e.mark)) + ")"});
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw config_error({source_name + ": expected a map at the top level"});
  apply_overrides(root, overrides, r);

  config cfg;
  std::array<std::optional<route_setting>, queues::message_kind_count> routes;
  std::optional<yaml_entry> registry_entry, auth_entry, letta_token_entry, retry_max_entry;
  r.walk(root, "", YAML::Mark(),
         {{"server", [&](const yaml_entry& e) { read_server(r, e, cfg.server, auth_entry); }},
          {"queues", [&](const yaml_entry& e) { read_queues(r, e, cfg.queues); }},
          {"routes", [&](const yaml_entry& e) { read_routes(r, e, routes); }},
          {"world", [&](const yaml_entry& e) { read_world(r, e, cfg.world, registry_entry); }},
          {"conversation", [&](const yaml_entry& e) { read_conversation(r, e, cfg.conversation); }},
          {"chat",
           [&](const yaml_entry& e) {
             r.walk(e.value, e.path, e.mark, {{"sync_wait_ms", [&](const yaml_entry& v) {
                                                 r.read_duration(v, 0, 600'000, cfg.conversation.sync_wait);
                                               }}});
           }},
          {"letta", [&](const yaml_entry& e) { read_letta(r, e, cfg.letta, letta_token_entry, retry_max_entry); }},
          {"events", [&](const yaml_entry& e) { read_events(r, e, cfg.events); }},
          {"memory", [&](const yaml_entry& e) { read_memory(r, e, cfg.memory); }},
          {"redis", [&](const yaml_entry& e) { read_redis(r, e, cfg.redis); }}});

  // Routes: defaults by name, then the YAML's, resolved against the final queue list.
  const auto defaults = queues::queues_config::defaults();
  for (std::size_t k = 0; k < queues::message_kind_count; ++k) {
    std::string name = routes[k] ? routes[k]->queue : defaults.queues[defaults.routes[k]].name;
    if (auto i = cfg.queues.index_of(name))
      cfg.queues.routes[k] = *i;
    else if (routes[k])
      r.error(routes[k]->where, "unknown queue '" + name + "'");
  }
  if (cfg.letta.retry_max < cfg.letta.retry_base && retry_max_entry)
    r.error(*retry_max_entry, "must be >= letta.retry.base_ms (" + std::to_string(cfg.letta.retry_base.count()) + ")");
  else if (cfg.letta.retry_max < cfg.letta.retry_base)
    r.error_plain("letta.retry.base_ms: must be <= letta.retry.max_ms (" + std::to_string(cfg.letta.retry_max.count()) +
                  ")");

  // Paths resolve against the config file's folder; token files are read now.
  cfg.server.auth_token_file = resolve(cfg.server.auth_token_file, base_dir);
  cfg.letta.token_file = resolve(cfg.letta.token_file, base_dir);
  read_token(r, auth_entry, cfg.server.auth_token_file, cfg.server.auth_token);
  read_token(r, letta_token_entry, cfg.letta.token_file, cfg.letta.token);

  // The registry: a missing default file means an empty registry; a missing explicit one is
  // an error. An explicit empty value also means "no registry".
  cfg.world.registry_file = resolve(cfg.world.registry_file, base_dir);
  if (!cfg.world.registry_file.empty()) {
    std::error_code ec;
    const bool exists = fs::exists(cfg.world.registry_file, ec);
    if (exists) {
      auto reg = detail::load_registry(cfg.world.registry_file, r.errors());
      if (reg) cfg.registry = std::make_shared<const workers::world_registry>(std::move(*reg));
    } else if (registry_entry) {
      r.error(*registry_entry, "registry file '" + cfg.world.registry_file + "' not found");
    }
  }

  if (!r.errors().empty()) throw config_error(r.errors());
  return cfg;
}

}  // namespace

config_error::config_error(std::vector<std::string> errs)
    : std::runtime_error(join_lines(errs)), errors(std::move(errs)) {}

config load_config_text(const std::string& yaml_text, const std::string& base_dir,
                        const std::vector<std::string>& set_overrides, const std::string& source_name) {
  return build(yaml_text, base_dir, set_overrides, source_name);
}

config load_config(const std::string& path, const std::vector<std::string>& set_overrides) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  if (ec) abs = path;
  std::ifstream in(abs, std::ios::binary);
  if (!in) throw config_error({path + ": cannot read config file"});
  std::ostringstream ss;
  ss << in.rdbuf();
  config cfg = build(ss.str(), abs.parent_path().string(), set_overrides, path);
  cfg.source_path = abs.lexically_normal().string();
  return cfg;
}

workers::world_registry load_world_registry(const std::string& path) {
  std::vector<std::string> errors;
  auto reg = detail::load_registry(path, errors);
  if (!errors.empty() || !reg)
    throw config_error(errors.empty() ? std::vector<std::string>{path + ": cannot load"} : errors);
  return std::move(*reg);
}

}  // namespace orch::daemon
