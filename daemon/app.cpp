#include "daemon/app.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <mutex>
#include <thread>

#include "common/metrics.hpp"
#include "daemon/app_memory.hpp"
#include "daemon/config_loader.hpp"
#include "daemon/http_server.hpp"
#include "daemon/log.hpp"
#include "daemon/router.hpp"
#include "daemon/systemd_notify.hpp"
#include "queues/dispatcher.hpp"
#include "queues/event_hub.hpp"
#include "queues/timer_service.hpp"
#include "workers/conversation_worker.hpp"
#include "workers/letta_factory.hpp"
#include "workers/letta_simulated.hpp"
#include "workers/memory_sync_worker.hpp"
#include "workers/redis_client.hpp"
#include "workers/snapshot_worker.hpp"

namespace orch::daemon {

namespace net = boost::asio;
using queues::message_kind;

// Members are declared in start order; destruction runs in reverse (Seastar's deferred stop).
// When run() returns, the io_context is stopped and its threads joined, so no handler runs
// any more; the Letta client has dropped its unfinished calls (their callbacks hold the
// client: a cycle otherwise). The server, workers, Letta client and dispatcher are then
// destroyed before the io_context, whose destructor frees the handlers still pending; those
// hold what they touch by shared_ptr or weak_ptr (sessions, Letta calls, the dispatcher core,
// subscriptions, timer state), so freeing them touches nothing already gone.
struct app::impl {
  impl(config c, std::vector<std::string> sets)
      : config_path(c.source_path),
        set_overrides(std::move(sets)),
        cfg(std::make_shared<const config>(std::move(c))),
        io(static_cast<int>(cfg->server.threads)),
        events(cfg->events.replay_capacity, cfg->events.replay_bytes, cfg->events.max_games, metrics),
        dispatcher(io, cfg->queues, clock, timers, metrics),
        redis(cfg->redis.url.empty() ? nullptr : std::make_unique<workers::redis_client>(io, cfg->redis, metrics)),
        letta(workers::make_letta_client(io, cfg->letta, clock, metrics, redis.get())),
        snapshots(cfg->world, cfg->registry, events, dispatcher, clock, metrics),
        memory_sync(*letta, snapshots, clock, metrics),
        conversations(cfg->conversation, snapshots, *letta, dispatcher, events, clock, timers, metrics),
        rt(router_services{[this] { return current(); }, dispatcher, events, metrics, snapshots, ready,
                           debug_block_reader()}),
        server(io, rt, cfg->server, metrics),
        signals(io, SIGTERM, SIGINT),
        hup(io, SIGHUP),
        watchdog(io),
        reloads_ok(metrics.get_counter("npcorch_config_reloads_total", "Successful SIGHUP reloads")),
        reloads_failed(metrics.get_counter("npcorch_config_reload_failures_total",
                                           "SIGHUP reloads refused (invalid file); the old config was kept")) {}

  std::shared_ptr<const config> current() const {
    std::lock_guard lk(cfg_mu);
    return cfg;
  }

  std::function<std::optional<std::string>(const std::string&, const std::string&)> debug_block_reader() {
    auto sim = workers::simulated_of(letta);
    if (!sim) return {};
    return [sim](const std::string& agent, const std::string& label) { return sim->block(agent, label); };
  }

  void wire() {
    dispatcher.set_handler(message_kind::snapshot, [this](queues::message m, queues::completion c) {
      snapshots.handle(std::move(m), std::move(c));
    });
    dispatcher.set_handler(message_kind::memory_sync, [this](queues::message m, queues::completion c) {
      memory_sync.handle(std::move(m), std::move(c));
    });
    dispatcher.set_handler(message_kind::chat_turn, [this](queues::message m, queues::completion c) {
      conversations.handle_turn(std::move(m), std::move(c));
    });
    dispatcher.set_handler(message_kind::npc_reply, [this](queues::message m, queues::completion c) {
      conversations.handle_reply(std::move(m), std::move(c));
    });
    dispatcher.set_handler(message_kind::system_notice, [this](queues::message m, queues::completion c) {
      conversations.handle_notice(std::move(m), std::move(c));
    });
    for (auto k : {message_kind::chat_turn, message_kind::npc_reply, message_kind::system_notice})
      dispatcher.set_drop_handler(
          k, [this](queues::message m, queues::drop_reason r) { conversations.on_dropped(std::move(m), r); });
    dispatcher.set_drop_handler(message_kind::memory_sync, [this](queues::message m, queues::drop_reason r) {
      memory_sync.on_dropped(std::move(m), r);  // a shed sync is redone at the NPC's next snapshot
    });
    // Games are bounded (DESIGN 9): an idle game evicted from the event hub takes its world
    // and conversation state with it. Posted, so that no worker lock is taken inside the
    // publish (or admit) that evicted it.
    events.set_idle_policy(std::chrono::duration_cast<std::chrono::milliseconds>(cfg->events.game_idle), clock);
    events.add_evict_listener([this](const std::string& game) {
      net::post(io, [this, game] {
        snapshots.forget_game(game);
        conversations.forget_game(game);
        memory_sync.forget_game(game);
        letta->forget_game(game);
      });
    });
    // A pair's block syncs and its speech are ordered apart ("sync:" / "talk:" keys): the
    // dispatcher never holds a reply behind a sync; the Letta lane serialises their requests
    // and starts the reply first (DESIGN 5.4: a queued sync never delays a reply).
    snapshots.set_sync_key([l = letta](std::string& out, const std::string& agent, const std::string& game) {
      out.assign("sync:");
      l->append_lane_key(out, agent, game);
    });
    snapshots.add_diff_listener([this](const workers::cluster_diff& d) { conversations.on_cluster_diff(d); });
    memory_sync.add_synced_listener([this](const workers::block_synced& b) { conversations.on_block_synced(b); });
  }

  // Redis (DESIGN 10): started after the Letta client registered its scripts; its state shows
  // in /readyz (degraded, still serving) and npcorch_redis_up.
  void start_redis() {
    if (!redis) return;
    ready.set_redis("down: local limits until it answers");
    redis->on_state([this](bool up) {
      ready.set_redis(up ? "up" : "down: local limits until it answers");
      log(up ? log_level::info : log_level::warn,
          up ? "redis up: shared limits and conversation map" : "redis down: local limits, reconnecting");
    });
    redis->start();
  }

  void verify_letta() {
    const bool simulated = cfg->letta.backend == workers::letta_backend::simulated;
    if (simulated) ready.set_letta(true, "simulated");  // nothing to reach
    letta->health([this, simulated](workers::letta_result r) {
      if (r.ok)
        ready.set_letta(true, simulated ? "simulated" : "reachable");
      else
        ready.set_letta(false, "unreachable: " + r.error);
      if (!r.ok) log(log_level::warn, "letta health check failed: " + r.error);
    });
    workers::verify_agents(*letta, *cfg->registry, metrics, [this](std::vector<std::string> missing) {
      for (auto& a : missing) log(log_level::warn, "letta agent missing: " + a);
      ready.set_missing_agents(std::move(missing));
    });
  }

  void reload() {
    systemd::notify("RELOADING=1");
    try {
      auto fresh = load_config(config_path, set_overrides);
      std::string error;
      if (!dispatcher.reload(fresh.queues, error)) throw config_error({"queues: " + error});
      // The registry, listen address, workers' settings and Letta backend are read at boot;
      // a reload keeps the running ones (documented in the README).
      fresh.registry = cfg->registry;
      {
        std::lock_guard lk(cfg_mu);
        cfg = std::make_shared<const config>(std::move(fresh));
      }
      reloads_ok.inc();
      log(log_level::info, "configuration reloaded from " + config_path);
      verify_letta();
    } catch (const config_error& e) {
      reloads_failed.inc();
      for (auto& line : e.errors) log(log_level::error, "reload refused: " + line);
    } catch (const std::exception& e) {
      reloads_failed.inc();
      log(log_level::error, std::string("reload refused: ") + e.what());
    }
    systemd::notify("READY=1");
  }

  void wait_hup() {
    hup.async_wait([this](boost::system::error_code ec, int) {
      if (ec) return;
      reload();
      wait_hup();
    });
  }

  void ping_watchdog(std::chrono::microseconds every) {
    watchdog.expires_after(every);
    watchdog.async_wait([this, every](boost::system::error_code ec) {
      if (ec) return;
      systemd::notify("WATCHDOG=1");
      ping_watchdog(every);
    });
  }

  void shutdown() {
    log(log_level::info, "stopping: draining queued work");
    systemd::notify("STOPPING=1");
    ready.set_stopping();
    server.stop();
    hup.cancel();
    dispatcher.stop_accepting();
    dispatcher.drain(cfg->server.drain_timeout, [this](bool drained) {
      log(log_level::info,
          drained ? "drained; delivering the last events" : "drain timeout; dropped what was left (counted)");
      net::post(io, [this] {
        conversations.stop();  // publishes turn_dropped(shutdown) for every turn left
        watchdog.cancel();
        heap.stop();
        // Keep serving for a bounded flush window: the last events reach WebSocket clients
        // and waiting long-polls, and WebSocket sessions close with a close frame.
        server.close_websockets();
        flush_deadline = std::chrono::steady_clock::now() + cfg->server.shutdown_flush;
        wait_flushed();
      });
    });
  }

  void wait_flushed() {
    if (server.open_connections() == 0 || std::chrono::steady_clock::now() >= flush_deadline) {
      log(log_level::info, "exiting");
      return io.stop();
    }
    flush_timer.expires_after(std::chrono::milliseconds(20));
    flush_timer.async_wait([this](boost::system::error_code) { wait_flushed(); });
  }

  // The allocator's arena cap applies before the io and Redis threads exist (DESIGN 9).
  void start_memory() {
    if (!apply_allocator_settings(cfg->memory)) log(log_level::warn, "memory.arena_max: refused by malloc");
    heap.start();
  }

  int run() {
    start_memory();
    wire();
    dispatcher.start();
    start_redis();
    server.start();
    verify_letta();
    signals.async_wait([this](boost::system::error_code ec, int) {
      if (!ec) shutdown();
    });
    wait_hup();
    if (auto every = systemd::watchdog_interval()) ping_watchdog(*every);
    // The readiness line goes to stdout (tests and scripts wait for it); journald keeps both.
    std::printf("listening on %s:%u\n", cfg->server.host.c_str(), static_cast<unsigned>(server.port()));
    std::fflush(stdout);
    systemd::notify("READY=1");

    std::vector<std::thread> threads;
    const auto n = std::max<std::uint32_t>(1, cfg->server.threads);
    for (std::uint32_t i = 1; i < n; ++i) threads.emplace_back([this] { io.run(); });
    io.run();
    for (auto& t : threads) t.join();
    if (redis) redis->stop();  // its thread touches `ready`, destroyed before it
    letta->stop();
    return 0;
  }

  std::string config_path;
  std::vector<std::string> set_overrides;
  mutable std::mutex cfg_mu;
  std::shared_ptr<const config> cfg;
  policies::steady_clock clock;
  metrics::registry metrics;
  net::io_context io;
  queues::asio_timer_service timers{io};
  queues::event_hub events;
  queues::dispatcher dispatcher;
  std::unique_ptr<workers::redis_client> redis;  // null: this daemon alone
  std::shared_ptr<workers::letta_client> letta;
  workers::snapshot_worker snapshots;
  workers::memory_sync_worker memory_sync;
  workers::conversation_worker conversations;
  readiness ready;
  router rt;
  http_server server;
  net::signal_set signals;
  net::signal_set hup;
  net::steady_timer watchdog;
  net::steady_timer flush_timer{io};
  heap_monitor heap{io, cfg->memory, metrics};
  std::chrono::steady_clock::time_point flush_deadline{};
  metrics::counter& reloads_ok;
  metrics::counter& reloads_failed;
};

app::app(config cfg, std::vector<std::string> set_overrides)
    : impl_(std::make_unique<impl>(std::move(cfg), std::move(set_overrides))) {}
app::~app() = default;
int app::run() { return impl_->run(); }

}  // namespace orch::daemon
