#include "workers/redis_client.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include <boost/asio/post.hpp>

namespace orch::workers {

namespace {

using clock_type = std::chrono::steady_clock;
constexpr auto backoff_first = std::chrono::milliseconds(100);
constexpr auto backoff_max = std::chrono::milliseconds(2000);
constexpr auto idle_ping = std::chrono::milliseconds(500);

redis_reply convert(const redisReply* r) {
  redis_reply out;
  if (!r) return out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = redis_reply::kind::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = redis_reply::kind::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = redis_reply::kind::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = redis_reply::kind::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = redis_reply::kind::array;
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = redis_reply::kind::nil;
      break;
  }
  return out;
}

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

bool starts_with(const std::string& s, std::string_view p) {
  return s.size() >= p.size() && s.compare(0, p.size(), p) == 0;
}

}  // namespace

bool parse_redis_url(const std::string& url, std::string& host, int& port, int& db) {
  constexpr std::string_view scheme = "redis://";
  if (!starts_with(url, scheme)) return false;
  std::string rest = url.substr(scheme.size());
  db = 0;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    const std::string d = rest.substr(slash + 1);
    rest.resize(slash);
    if (!d.empty()) {
      auto [p, ec] = std::from_chars(d.data(), d.data() + d.size(), db);
      if (ec != std::errc() || p != d.data() + d.size() || db < 0) return false;
    }
  }
  const auto colon = rest.rfind(':');
  port = 6379;
  host = rest.substr(0, colon);
  if (colon != std::string::npos) {
    const std::string p_text = rest.substr(colon + 1);
    auto [p, ec] = std::from_chars(p_text.data(), p_text.data() + p_text.size(), port);
    if (ec != std::errc() || p != p_text.data() + p_text.size() || port < 1 || port > 65535) return false;
  }
  return !host.empty() && host.find('@') == std::string::npos;
}

redis_client::redis_client(boost::asio::io_context& io, redis_options opts, metrics::registry& m)
    : io_(io),
      opts_(std::move(opts)),
      up_gauge_(
          m.get_gauge("npcorch_redis_up", "1 while the shared Redis answers, 0 while this daemon uses local limits")),
      ok_(m.get_counter("npcorch_redis_commands_total", "Redis commands by outcome", {{"status", "ok"}})),
      errors_(m.get_counter("npcorch_redis_commands_total", "Redis commands by outcome", {{"status", "error"}})),
      down_(m.get_counter("npcorch_redis_commands_total", "Redis commands by outcome", {{"status", "down"}})),
      connects_ok_(m.get_counter("npcorch_redis_connects_total", "Connections to Redis", {{"result", "ok"}})),
      connects_failed_(m.get_counter("npcorch_redis_connects_total", "Connections to Redis", {{"result", "failed"}})),
      script_loads_(m.get_counter("npcorch_redis_script_loads_total", "Lua scripts loaded into Redis (SCRIPT LOAD)")) {
  if (!parse_redis_url(opts_.url, host_, port_, db_))
    throw std::invalid_argument("redis.url: expected redis://host:port[/db], got '" + opts_.url + "'");
  up_gauge_.set(0);
}

redis_client::~redis_client() { stop(); }

std::size_t redis_client::add_script(std::string body) {
  scripts_.push_back({std::move(body), {}});
  return scripts_.size() - 1;
}

void redis_client::start() {
  if (thread_.joinable()) return;
  // The first connection is made here (bounded by the timeout), so that a daemon starting
  // beside a running Redis takes its first Letta calls (agent verification) under the shared
  // limits. The caller is the app before its io threads run: no io thread waits.
  connect();
  thread_ = std::thread([this] { run(); });
}

void redis_client::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::deque<job> left;
  {
    std::lock_guard lk(mu_);
    left.swap(queue_);
  }
  for (auto& j : left) answer(j, {});
}

void redis_client::command(std::vector<std::string> argv, reply_fn cb) {
  {
    std::lock_guard lk(mu_);
    if (!stopping_) {
      queue_.push_back(job{std::move(argv), std::move(cb)});
      cv_.notify_one();
      return;
    }
  }
  job j{{}, std::move(cb)};
  answer(j, {});
}

void redis_client::eval(std::size_t script, std::vector<std::string> keys, std::vector<std::string> args, reply_fn cb) {
  std::vector<std::string> argv{"EVALSHA", "", std::to_string(keys.size())};  // the sha is filled in by the thread
  for (auto& k : keys) argv.push_back(std::move(k));
  for (auto& a : args) argv.push_back(std::move(a));
  {
    std::lock_guard lk(mu_);
    if (!stopping_) {
      queue_.push_back(job{std::move(argv), std::move(cb), script});
      cv_.notify_one();
      return;
    }
  }
  job j{{}, std::move(cb)};
  answer(j, {});
}

void redis_client::answer(job& j, redis_reply r) {
  if (r.type == redis_reply::kind::down)
    down_.inc();
  else if (r.type == redis_reply::kind::error)
    errors_.inc();
  else
    ok_.inc();
  if (!j.cb) return;
  boost::asio::post(io_, [cb = std::move(j.cb), r = std::move(r)]() mutable { cb(std::move(r)); });
}

void redis_client::set_up(bool up) {
  if (up_.exchange(up, std::memory_order_acq_rel) == up) return;
  up_gauge_.set(up ? 1 : 0);
  if (state_fn_) state_fn_(up);
}

void redis_client::disconnect() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
  set_up(false);
}

redis_reply redis_client::round_trip(const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lens.data()));
  if (!r) {
    disconnect();
    return {};
  }
  redis_reply out = convert(r);
  freeReplyObject(r);
  return out;
}

bool redis_client::connect() {
  ctx_ = redisConnectWithTimeout(host_.c_str(), port_, to_timeval(opts_.timeout));
  if (!ctx_ || ctx_->err) {
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
    connects_failed_.inc();
    return false;
  }
  redisSetTimeout(ctx_, to_timeval(opts_.timeout));
  if (db_ != 0) {
    if (!round_trip({"SELECT", std::to_string(db_)}).ok()) {
      disconnect();
      connects_failed_.inc();
      return false;
    }
  }
  for (auto& s : scripts_) {
    auto r = round_trip({"SCRIPT", "LOAD", s.body});
    if (r.type != redis_reply::kind::string) {
      if (ctx_) disconnect();
      connects_failed_.inc();
      return false;
    }
    s.sha = r.str;
    script_loads_.inc();
  }
  connects_ok_.inc();
  set_up(true);
  return true;
}

void redis_client::serve(std::vector<job>& batch) {
  if (!ctx_) {
    for (auto& j : batch) answer(j, {});
    return;
  }
  for (auto& j : batch) {
    if (j.script < scripts_.size()) j.argv[1] = scripts_[j.script].sha;
    std::vector<const char*> args;
    std::vector<std::size_t> lens;
    for (const auto& a : j.argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lens.data());
  }
  std::size_t i = 0;
  std::vector<std::size_t> reload;  // NOSCRIPT answers: run again once their script is loaded
  for (; i < batch.size() && ctx_; ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw) {
      disconnect();
      break;
    }
    auto* r = static_cast<redisReply*>(raw);
    redis_reply rep = convert(r);
    freeReplyObject(r);
    job& j = batch[i];
    if (rep.type == redis_reply::kind::error && starts_with(rep.str, "NOSCRIPT") && j.script < scripts_.size())
      reload.push_back(i);
    else
      answer(j, std::move(rep));
  }
  for (; i < batch.size(); ++i) answer(batch[i], {});
  for (std::size_t k : reload) {
    job& j = batch[k];
    if (ctx_) {
      auto& s = scripts_[j.script];
      auto loaded = round_trip({"SCRIPT", "LOAD", s.body});
      if (loaded.type == redis_reply::kind::string) {
        s.sha = loaded.str;
        script_loads_.inc();
      }
    }
    j.argv[1] = scripts_[j.script].sha;
    answer(j, ctx_ ? round_trip(j.argv) : redis_reply{});
  }
}

void redis_client::run() {
  auto backoff = std::chrono::milliseconds(backoff_first);
  auto next_connect = clock_type::now();
  auto last_io = clock_type::now();
  std::unique_lock lk(mu_);
  while (!stopping_) {
    if (!ctx_ && clock_type::now() >= next_connect) {
      lk.unlock();
      const bool ok = connect();
      lk.lock();
      if (ok) {
        backoff = backoff_first;
      } else {
        next_connect = clock_type::now() + backoff;
        backoff = std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(backoff_max));
      }
      last_io = clock_type::now();
      continue;
    }
    if (queue_.empty()) {
      const auto until = ctx_ ? last_io + idle_ping : next_connect;
      cv_.wait_until(lk, until, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      if (queue_.empty()) {
        if (ctx_ && clock_type::now() >= last_io + idle_ping) {
          lk.unlock();
          (void)round_trip({"PING"});  // a failure disconnects: Redis is marked down
          lk.lock();
          last_io = clock_type::now();
        }
        continue;
      }
    }
    std::vector<job> batch;
    batch.reserve(queue_.size());
    while (!queue_.empty()) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lk.unlock();
    serve(batch);
    lk.lock();
    last_io = clock_type::now();
  }
  lk.unlock();
  if (ctx_) disconnect();
}

}  // namespace orch::workers
