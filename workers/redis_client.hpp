#pragma once
// redis_client: the daemon's one connection to Redis (DESIGN 10), on a thread of its own with
// hiredis' blocking API, so that no io thread ever waits on Redis. Commands queue up; the
// thread sends whatever is queued as one pipeline and answers each command by posting its
// callback to the io_context.
// - Down or unreachable: commands fail at once with a `down` reply (nothing waits for a
//   reconnect); the thread reconnects with exponential backoff (100 ms doubling to 2 s) and
//   PINGs an idle connection every 500 ms, so a dead Redis is noticed without traffic.
//   npcorch_redis_up (gauge) and the state listener say which.
// - Scripts: add_script() before start(); eval() runs EVALSHA, and on NOSCRIPT (a restarted or
//   flushed Redis) loads the script with SCRIPT LOAD and runs it once more.
// Counted: npcorch_redis_commands_total{status="ok|error|down"}, npcorch_redis_connects_total
// {result="ok|failed"}, npcorch_redis_script_loads_total.
//
// Ownership: the app owns it and stops it before the io_context goes away; callbacks hold
// nothing of it. Thread-safety: every public member may be called from any thread (one mutex
// guards the queue). Fails: a malformed url throws std::invalid_argument from the constructor.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "common/metrics.hpp"
#include "workers/redis_options.hpp"

struct redisContext;

namespace orch::workers {

struct redis_reply {
  enum class kind : std::uint8_t { down, nil, integer, string, status, error, array };
  kind type = kind::down;
  long long integer = 0;
  std::string str;  // string, status and error replies
  std::vector<redis_reply> elements;

  bool ok() const { return type != kind::down && type != kind::error; }
};

// redis://host:port[/db] → host, port, db. False when malformed.
bool parse_redis_url(const std::string& url, std::string& host, int& port, int& db);

class redis_client {
 public:
  using reply_fn = std::function<void(redis_reply)>;
  using state_fn = std::function<void(bool up)>;

  redis_client(boost::asio::io_context& io, redis_options opts, metrics::registry& metrics);
  ~redis_client();
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  // Before start(): a Lua script; returns its handle for eval().
  std::size_t add_script(std::string body);
  // Before start(): told (on the client's thread) each time Redis comes up or goes down.
  void on_state(state_fn fn) { state_fn_ = std::move(fn); }
  // Connects once on the calling thread (at most the timeout), then starts the client's thread.
  void start();
  // Fails what is queued (down) and joins the thread. Idempotent.
  void stop();

  void command(std::vector<std::string> argv, reply_fn cb);
  void eval(std::size_t script, std::vector<std::string> keys, std::vector<std::string> args, reply_fn cb);

  bool up() const { return up_.load(std::memory_order_acquire); }
  const redis_options& options() const { return opts_; }

 private:
  struct job {
    std::vector<std::string> argv;
    reply_fn cb;
    std::size_t script = SIZE_MAX;  // eval(): the script, reloaded on NOSCRIPT
  };
  struct script_entry {
    std::string body;
    std::string sha;
  };

  void run();
  bool connect();
  void disconnect();
  void set_up(bool up);
  void serve(std::vector<job>& batch);
  redis_reply round_trip(const std::vector<std::string>& argv);
  void answer(job& j, redis_reply r);

  boost::asio::io_context& io_;
  redis_options opts_;
  std::string host_;
  int port_ = 6379;
  int db_ = 0;
  std::vector<script_entry> scripts_;  // written before start(), then only by the thread
  state_fn state_fn_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<job> queue_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<bool> up_{false};
  redisContext* ctx_ = nullptr;  // the thread's own

  metrics::gauge& up_gauge_;
  metrics::counter& ok_;
  metrics::counter& errors_;
  metrics::counter& down_;
  metrics::counter& connects_ok_;
  metrics::counter& connects_failed_;
  metrics::counter& script_loads_;
};

}  // namespace orch::workers
