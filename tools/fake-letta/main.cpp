// fake-letta: a Letta-shaped HTTP server for tests and load drills (never used by the daemon).
//   fake-letta --listen 127.0.0.1:PORT [--latency-ms N] [--agents a,b|--world FILE] [--token T]
// (argv by CLI11: --help is generated, a bad option is named and exits 2).
// Prints "listening on HOST:PORT" once ready (port 0 picks a free port). Implements the routes
// the daemon uses with Letta's status codes and error bodies, keeps agents and blocks in
// memory, answers deterministically, records every request, answers 409 (Letta's lock) to a
// second concurrent message request for one agent and counts it, and takes faults:
//   POST /_fake/faults {"mode":"429"|"409_retry_after"|"503"|"timeout"|"drop"|"slow"|"land_late","count":N,
//                       "agent"?,"delay_ms"? (land_late)}
// Per-game conversations and blocks by id: see conversations.hpp. GET /_fake/conversations
// [?agent_id=] shows them (blocks by label, user messages, duplicated otids, steps).
//   DELETE /_fake/faults, GET /_fake/stats, POST /_fake/edit_block {agent,label,value}
// Single-threaded: one io_context thread, one coroutine per connection.
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it.

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/address.hpp"
#include "daemon/config_loader.hpp"
#include "tools/fake-letta/conversations.hpp"
#include "tools/fake-letta/fake_state.hpp"
#include "tools/fake-letta/http_util.hpp"
#include "workers/letta_codec.hpp"
#include "workers/letta_conversation_codec.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using fake_letta::fake_state;
using orch::workers::json_quote;

namespace {

using fake_letta::detail;
using fake_letta::reply;
using fake_letta::request;
using fake_letta::response;
using fake_letta::sleep_for;
using fake_letta::split_path;

std::string block_json(fake_state& st, const std::string& agent, const std::string& label, const std::string& v) {
  return "{\"id\":\"block-" + std::to_string(++st.block_seq) + "\",\"label\":" + json_quote(label) +
         ",\"value\":" + json_quote(v) + ",\"limit\":5000,\"agent_id\":" + json_quote(agent) + "}";
}

// Control routes. Returns nullopt when the target is not a control route.
std::optional<response> control(fake_state& st, const request& rq) {
  const std::string target(rq.target());
  if (target == "/_fake/stats" && rq.method() == http::verb::get) return reply(rq, 200, st.stats_json());
  if (target.rfind("/_fake/conversations", 0) == 0 && rq.method() == http::verb::get)
    return reply(rq, 200, st.conversations_json(orch::workers::query_param(target, "agent_id")));
  if (target == "/_fake/faults" && rq.method() == http::verb::delete_) {
    st.clear_faults();
    return reply(rq, 200, "{}");
  }
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(rq.body().data(), rq.body().size());
  auto str = [&](const char* k) -> std::string {
    if (!d.IsObject()) return {};
    auto it = d.FindMember(k);
    return it != d.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString()) : std::string();
  };
  if (target == "/_fake/faults" && rq.method() == http::verb::post) {
    fake_letta::fault f;
    f.mode = str("mode");
    f.agent = str("agent");
    f.left = 1;
    if (d.IsObject() && d.HasMember("count") && d["count"].IsUint64()) f.left = d["count"].GetUint64();
    static const std::set<std::string> modes{"429", "409_retry_after", "503", "timeout", "drop", "slow", "land_late"};
    if (d.IsObject() && d.HasMember("delay_ms") && d["delay_ms"].IsUint64())
      st.land_late_delay = std::chrono::milliseconds(d["delay_ms"].GetUint64());
    if (!modes.count(f.mode) || f.left == 0) return reply(rq, 400, detail("mode or count invalid"));
    st.add_fault(std::move(f));
    return reply(rq, 200, "{}");
  }
  if (target == "/_fake/edit_block" && rq.method() == http::verb::post) {
    const std::string agent = str("agent"), label = str("label");
    if (agent.empty() || label.empty() || !d.HasMember("value") || !d["value"].IsString())
      return reply(rq, 400, detail("agent, label, value required"));
    st.blocks[{agent, label}] = str("value");
    return reply(rq, 200, "{}");
  }
  if (target.rfind("/_fake/", 0) == 0) return reply(rq, 404, detail("Not Found"));
  return std::nullopt;
}

// One Letta route. `close` is set when the connection must be dropped without an answer.
asio::awaitable<response> handle(fake_state& st, const request& rq, bool& close) {
  const auto parts = split_path(rq.target());
  if (parts.size() == 2 && parts[0] == "v1" && parts[1] == "health") {
    st.record("health", "");
    co_return reply(rq, 200, R"({"version":"0.16.7","status":"ok"})");
  }
  if (!st.token.empty() && rq[http::field::authorization] != "Bearer " + st.token)
    co_return reply(rq, 401, detail("Unauthorized"));
  if (!parts.empty() && parts[0] == "v1")
    if (auto r = co_await fake_letta::handle_conversation_routes(st, rq, parts, close)) co_return std::move(*r);
  if (parts.size() < 3 || parts[0] != "v1" || parts[1] != "agents") co_return reply(rq, 404, detail("Not Found"));
  const std::string& agent = parts[2];
  std::string endpoint = "other";
  if (parts.size() == 3)
    endpoint = "agent_get";
  else if (parts.size() == 4 && parts[3] == "messages")
    endpoint = "messages";
  else if (parts.size() == 6 && parts[3] == "core-memory" && parts[4] == "blocks")
    endpoint = rq.method() == http::verb::patch ? "block_update" : "block_get";
  st.record(endpoint, agent);

  if (auto f = st.take_fault(agent, false)) {
    if (*f == "429")
      co_return reply(rq, 429,
                      R"({"error":{"type":"llm_rate_limit","message":"Rate limited by provider","detail":"fake"}})");
    if (*f == "503") co_return reply(rq, 503, detail("Service unavailable"));
    if (*f == "409_retry_after") {
      auto r = reply(rq, 409,
                     detail("Block with id 'block-x' was updated by another transaction. Please retry your request."));
      r.set(http::field::retry_after, "1");
      co_return r;
    }
    if (*f == "drop") {
      close = true;
      co_return response{};
    }
    if (*f == "timeout") {
      co_await sleep_for(std::chrono::seconds(120));
      close = true;
      co_return response{};
    }
    if (*f == "slow") co_await sleep_for(std::chrono::milliseconds(1500));
  }
  if (agent.rfind("agent-", 0) != 0) co_return reply(rq, 422, detail("agent_id: expected agent-<uuid4>"));
  if (!st.agent_exists(agent)) co_return reply(rq, 404, detail("Agent " + agent + " not found"));

  const bool is_messages = endpoint == "messages" && rq.method() == http::verb::post;
  if (st.enter(agent) > 1) {
    st.violation();
    if (is_messages) {
      st.leave(agent);
      co_return reply(rq, 409,
                      "{\"detail\":\"Cannot send a new message: Another request is currently being processed for this "
                      "agent.\",\"run_id\":\"run-fake\"}");
    }
  }
  co_await sleep_for(st.latency);
  st.leave(agent);

  if (endpoint == "agent_get" && rq.method() == http::verb::get)
    co_return reply(rq, 200, "{\"id\":" + json_quote(agent) + ",\"name\":" + json_quote(agent) + "}");
  if (is_messages) {
    auto ms = orch::workers::parse_messages_body(rq.body());
    if (!ms) co_return reply(rq, 422, detail("messages: expected a non-empty list of MessageCreate"));
    const std::string& last = ms->back().content;
    const std::string text = agent + " hears you: " + last.substr(0, std::min<std::size_t>(40, last.size()));
    for (const auto& m : *ms)
      if (!m.otid.empty()) st.answered_200(m.otid);
    fake_letta::record_exchange(st, st.agent_threads[agent], *ms, text);
    co_return reply(rq, 200, fake_letta::letta_response_body(text));
  }
  if (endpoint == "block_get" && rq.method() == http::verb::get) {
    auto it = st.blocks.find({agent, parts[5]});
    if (it == st.blocks.end()) co_return reply(rq, 404, detail("Block with label " + parts[5] + " not found"));
    co_return reply(rq, 200, block_json(st, agent, parts[5], it->second));
  }
  if (endpoint == "block_update") {
    auto v = orch::workers::parse_block_update_body(rq.body());
    if (!v) co_return reply(rq, 422, detail("value: expected a string"));
    st.blocks[{agent, parts[5]}] = *v;
    co_return reply(rq, 200, block_json(st, agent, parts[5], *v));
  }
  co_return reply(rq, 405, detail("Method Not Allowed"));
}

asio::awaitable<void> session(fake_state& st, tcp::socket sock) {
  beast::tcp_stream stream(std::move(sock));
  beast::flat_buffer buf;
  beast::error_code ec;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(8u << 20);
    stream.expires_after(std::chrono::seconds(300));
    co_await http::async_read(stream, buf, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    request rq = parser.release();
    bool close = false;
    response r;
    if (auto c = control(st, rq))
      r = std::move(*c);
    else
      r = co_await handle(st, rq, close);
    if (close) break;
    const bool keep = r.keep_alive();
    co_await http::async_write(stream, r, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !keep) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

asio::awaitable<void> listen(fake_state& st, tcp::acceptor& acc) {
  for (;;) {
    beast::error_code ec;
    tcp::socket s = co_await acc.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    asio::co_spawn(acc.get_executor(), session(st, std::move(s)), asio::detached);
  }
}

constexpr const char* description =
    "A Letta-shaped HTTP server for tests and load drills: the routes the daemon uses, with\n"
    "Letta's status codes and error bodies, agents and blocks in memory, deterministic answers,\n"
    "and faults injected through POST /_fake/faults. Prints \"listening on HOST:PORT\" once ready.";

constexpr const char* footer =
    "Exit codes: 0 stopped by SIGINT/SIGTERM, 1 could not listen, 2 usage error or invalid --world.";

int usage_error(const std::string& what) {
  std::cerr << "fake-letta: " << what << "\n(see fake-letta --help)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  fake_state st;
  std::string listen_at = "127.0.0.1:0", world_file;
  std::vector<std::string> agents;
  long latency_ms = 0;

  CLI::App app(description, "fake-letta");
  app.footer(footer);
  app.add_option("--listen", listen_at, "address to listen on; port 0 picks a free port (default 127.0.0.1:0)")
      ->option_text("HOST:PORT");
  app.add_option("--latency-ms", latency_ms, "simulated thinking time before each message reply (default 0)")
      ->check(CLI::Range(0L, 600'000L))
      ->option_text("N (0-600000)");
  auto* agents_opt = app.add_option("--agents", agents, "agent ids that exist (others answer 404)")
                         ->delimiter(',')
                         ->option_text("ID,ID...");
  app.add_option("--world", world_file,
                 "world registry (etc/world.yaml): its NPCs' agent_ids exist; validated by the daemon's loader")
      ->check(CLI::ExistingFile)
      ->excludes(agents_opt)
      ->option_text("FILE");
  app.add_option("--token", st.token, "bearer token every request must carry (default: none checked)")
      ->option_text("T");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }
  st.latency = std::chrono::milliseconds(latency_ms);
  for (auto& a : agents)
    if (!a.empty()) st.agents.insert(std::move(a));
  if (!world_file.empty()) {
    try {
      const auto registry = orch::daemon::load_world_registry(world_file);
      for (const auto& n : registry.npcs())
        if (!n.agent_id.empty()) st.agents.insert(n.agent_id);
    } catch (const orch::daemon::config_error& e) {
      for (const auto& line : e.errors) std::cerr << "fake-letta: " << line << "\n";
      return 2;
    }
  }
  std::string why;
  const auto at = orch::common::parse_host_port(listen_at, orch::common::port_rule{std::nullopt, 0}, why);
  if (!at) return usage_error("--listen " + listen_at + ": " + why);
  try {
    asio::io_context io(1);
    tcp::endpoint ep(asio::ip::make_address(at->host), at->port);
    tcp::acceptor acc(io, ep);
    // Signals first: whoever reads the "listening" line may send SIGTERM at once.
    asio::signal_set sigs(io, SIGINT, SIGTERM);
    sigs.async_wait([&](const beast::error_code&, int) { io.stop(); });
    const auto bound = acc.local_endpoint();
    std::printf("listening on %s:%u\n", bound.address().to_string().c_str(), static_cast<unsigned>(bound.port()));
    std::fflush(stdout);
    asio::co_spawn(io, listen(st, acc), asio::detached);
    io.run();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "fake-letta: " << e.what() << "\n";
    return 1;
  }
}
