#include "workers/redis_rate_gate.hpp"

#include <algorithm>
#include <limits>

#include "workers/redis_client.hpp"

namespace orch::workers {

using policies::duration;
using policies::time_point;

namespace {

constexpr auto store_failure_pause = std::chrono::seconds(1);

const char* const gcra_script = R"LUA(
-- GCRA reservation (policies/gcra.cpp): KEYS[1] the limit; ARGV interval_us, burst, max_wait_us,
-- tokens (at once).
-- Returns {1, wait_us} (reserved: go after wait_us) or {0, retry_after_us} (nothing reserved).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local n = math.max(1, tonumber(ARGV[4]) or 1)
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local nxt = tat + interval * n
local tolerance = math.floor(math.max(1, burst) * interval + 0.5)
local wait = nxt - tolerance - now
if wait < 0 then wait = 0 end
if wait > max_wait then return {0, wait - max_wait} end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.floor((nxt - now) / 1000) + 1000)
return {1, wait}
)LUA";

}  // namespace

const std::string& gcra_lua() {
  static const std::string s = gcra_script;
  return s;
}

redis_gcra_store::redis_gcra_store(redis_client& client) : client_(client), script_(client.add_script(gcra_lua())) {}

bool redis_gcra_store::up() const { return client_.up(); }

void redis_gcra_store::reserve(const std::string& key, const policies::gcra_params& p, std::uint32_t n, answer_fn cb) {
  client_.eval(
      script_, {key},
      {std::to_string(p.interval_us), std::to_string(p.burst), std::to_string(p.max_wait_us), std::to_string(n)},
      [cb = std::move(cb)](redis_reply r) {
        if (r.type != redis_reply::kind::array || r.elements.size() != 2 ||
            r.elements[0].type != redis_reply::kind::integer || r.elements[1].type != redis_reply::kind::integer)
          return cb(std::nullopt);
        policies::gcra_answer a;
        a.allowed = r.elements[0].integer == 1;
        a.wait_us = std::max<long long>(0, r.elements[1].integer);
        cb(a);
      });
}

redis_rate_gate::redis_rate_gate(std::shared_ptr<gcra_store> store, rate_limits limits, std::string key_prefix,
                                 const policies::clock& clock, metrics::registry& m)
    : store_(std::move(store)),
      limits_(limits),
      prefix_(std::move(key_prefix)),
      clock_(clock),
      local_(limits, clock.now()),
      allowed_(m.get_counter("npcorch_redis_rate_asks_total", "Shared rate limit questions by answer",
                             {{"result", "allowed"}})),
      refused_(m.get_counter("npcorch_redis_rate_asks_total", "Shared rate limit questions by answer",
                             {{"result", "refused"}})),
      failed_(m.get_counter("npcorch_redis_rate_asks_total", "Shared rate limit questions by answer",
                            {{"result", "failed"}})),
      local_taken_(m.get_counter("npcorch_redis_rate_asks_total", "Shared rate limit questions by answer",
                                 {{"result", "local"}})) {}

void redis_rate_gate::set_waker(std::function<void()> wake) {
  std::lock_guard lk(mu_);
  wake_ = std::move(wake);
}

std::string redis_rate_gate::slot_key(rate_scope scope, const std::string& key) const {
  return scope == rate_scope::global ? std::string("global") : "agent:" + key;
}

bool redis_rate_gate::local_locked(const slot* s, time_point now) const {
  if (!store_->up()) return true;
  return s && s->local_until && now < *s->local_until;
}

duration redis_rate_gate::wait_time(rate_scope scope, const std::string& key, time_point now) {
  if (unlimited(scope)) return duration::zero();
  const std::string k = slot_key(scope, key);
  std::lock_guard lk(mu_);
  auto found = slots_.find(k);
  if (local_locked(found == slots_.end() ? nullptr : &found->second, now)) return local_.wait_time(scope, key, now);
  slot& s = found == slots_.end() ? slots_[k] : found->second;
  if (s.ready_at) return std::max(duration::zero(), *s.ready_at - now);
  if (s.asking) return pending;
  if (s.retry_at && now < *s.retry_at) return *s.retry_at - now;
  s.retry_at.reset();
  s.asking = true;
  const policies::gcra_params p = scope == rate_scope::global
                                      ? policies::gcra_for(limits_.global_per_s, limits_.global_burst)
                                      : policies::gcra_for(limits_.per_agent_per_s, limits_.per_agent_burst);
  std::weak_ptr<redis_rate_gate> weak = weak_from_this();
  store_->reserve(prefix_ + "rate:" + k, p, 1, [weak, k](std::optional<policies::gcra_answer> a) {
    if (auto self = weak.lock()) self->on_answer(k, a);
  });
  return pending;
}

void redis_rate_gate::on_answer(const std::string& k, std::optional<policies::gcra_answer> a) {
  std::function<void()> wake;
  {
    std::lock_guard lk(mu_);
    const time_point now = clock_.now();
    slot& s = slots_[k];
    s.asking = false;
    if (a && a->allowed) {
      s.ready_at = now + std::chrono::microseconds(a->wait_us);
      allowed_.inc();
    } else if (a) {
      s.retry_at = now + std::chrono::microseconds(std::max<std::int64_t>(1, a->wait_us));
      refused_.inc();
    } else {
      s.local_until = now + store_failure_pause;  // down (or a bad answer): local limits meanwhile
      failed_.inc();
    }
    wake = wake_;
  }
  if (wake) wake();
}

void redis_rate_gate::take(rate_scope scope, const std::string& key, time_point now) {
  if (unlimited(scope)) return;
  const std::string k = slot_key(scope, key);
  std::lock_guard lk(mu_);
  auto found = slots_.find(k);
  if (local_locked(found == slots_.end() ? nullptr : &found->second, now)) {
    local_.take(scope, key, now);
    local_taken_.inc();
    return;
  }
  if (found != slots_.end()) found->second.ready_at.reset();
}

void redis_rate_gate::charge(rate_scope scope, const std::string& key, time_point now, std::uint32_t n) {
  if (unlimited(scope) || n == 0) return;
  const std::string k = slot_key(scope, key);
  std::lock_guard lk(mu_);
  auto found = slots_.find(k);
  if (local_locked(found == slots_.end() ? nullptr : &found->second, now)) return local_.charge(scope, key, now, n);
  // Requests already made: pushed into the shared limit unconditionally (no wait to honour),
  // so the next question of any daemon waits them out. The answer is not needed.
  auto p = scope == rate_scope::global ? policies::gcra_for(limits_.global_per_s, limits_.global_burst)
                                       : policies::gcra_for(limits_.per_agent_per_s, limits_.per_agent_burst);
  p.max_wait_us = std::numeric_limits<std::int64_t>::max() / 4;
  store_->reserve(prefix_ + "rate:" + k, p, n, [](std::optional<policies::gcra_answer>) {});
}

}  // namespace orch::workers
