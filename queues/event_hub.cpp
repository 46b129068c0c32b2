// event_hub: per-game replay buffers, subscribers, and the bounded table of games.
//
// Locking: `games_mu` guards the game table, the activity order and each game's
// `last_active`; each game has `state_mu` (its buffer and subscriber list) and `publish_mu`
// (held across building an event and delivering it, so subscribers of one game see its
// events in seq order). Lock order: games_mu, then a game's state_mu. Callbacks run under
// `publish_mu` of their game only: a callback may read(), subscribe() or drop its handle,
// but must not publish to the same game (that would deadlock). Evict listeners run under no
// lock of the hub's.
#include "queues/event_hub.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <limits>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace orch::queues {

namespace {

struct subscriber_entry {
  event_hub::subscriber fn;
  std::atomic<bool> alive{true};
};

struct game_log {
  std::string name;
  std::mutex publish_mu;
  std::atomic<std::thread::id> delivering{};
  mutable std::mutex state_mu;
  std::deque<event_ptr> events;  // contiguous seqs, oldest first
  std::size_t bytes = 0;         // event_hub::bytes_of the events
  std::uint64_t last_seq = 0;
  std::vector<std::shared_ptr<subscriber_entry>> subs;
  std::list<std::string>::iterator lru;  // guarded by games_mu
  policies::time_point last_active{};    // guarded by games_mu
  bool evicted = false;                  // guarded by games_mu
};

const policies::steady_clock default_clock;

}  // namespace

struct event_hub::impl {
  impl(std::size_t cap, std::size_t bytes, std::size_t max, metrics::registry& metrics)
      : replay_capacity(std::max<std::size_t>(cap, 1)),
        replay_bytes(bytes),
        max_games(std::max<std::size_t>(max, 1)),
        published(metrics.get_counter("npcorch_events_published_total", "Events published to game logs")),
        trimmed_count(metrics.get_counter("npcorch_events_replay_trimmed_total",
                                          "Events dropped from a game's replay buffer, by the cap that dropped them",
                                          {{"cap", "count"}})),
        trimmed_bytes(metrics.get_counter("npcorch_events_replay_trimmed_total",
                                          "Events dropped from a game's replay buffer, by the cap that dropped them",
                                          {{"cap", "bytes"}})),
        games_gauge(metrics.get_gauge("npcorch_games", "Games tracked (each with an event log)")),
        replay_bytes_gauge(metrics.get_gauge(
            "npcorch_events_replay_bytes", "Bytes held by the replay buffers of all games (counted as replay_bytes)")),
        evicted_total(metrics.get_counter("npcorch_games_evicted_total",
                                          "Idle games evicted with their event log, world and conversation state")),
        refused_total(metrics.get_counter("npcorch_games_refused_total",
                                          "New game ids refused because events.max_games games were active")),
        over_cap_total(metrics.get_counter("npcorch_games_over_cap_total",
                                           "Game logs created past events.max_games by a publish or subscribe "
                                           "(none idle)")) {}

  // Finds or creates the game's log and marks it active. Past max_games it first evicts
  // the least recently active idle game; with none idle it creates the log anyway when
  // `force` (a publish must land somewhere) and otherwise refuses (nullptr).
  std::shared_ptr<game_log> get(std::string_view game, bool force, std::vector<std::string>& evicted) {
    std::lock_guard lk(games_mu);
    const auto now = clock->now();
    auto it = games.find(std::string(game));
    if (it != games.end()) {
      mark_active_locked(*it->second, now);
      return it->second;
    }
    if (games.size() >= max_games && !evict_one_locked(now, evicted)) {
      if (!force) {
        refused_total.inc();
        return nullptr;
      }
      over_cap_total.inc();
    }
    auto g = std::make_shared<game_log>();
    g->name = std::string(game);
    g->last_seq = seq_floor;  // above every seq an evicted log handed out
    g->last_active = now;
    lru.push_front(g->name);
    g->lru = lru.begin();
    games.emplace(g->name, g);
    games_gauge.set(static_cast<double>(games.size()));
    return g;
  }

  void mark_active_locked(game_log& g, policies::time_point now) {
    if (g.evicted) return;
    g.last_active = now;
    lru.splice(lru.begin(), lru, g.lru);
  }

  // The activity list is ordered by last_active, newest first: walking from the oldest, the
  // first game without subscribers is the only candidate.
  bool evict_one_locked(policies::time_point now, std::vector<std::string>& evicted) {
    for (auto it = lru.rbegin(); it != lru.rend(); ++it) {
      auto git = games.find(*it);
      auto& g = *git->second;
      {
        std::lock_guard sl(g.state_mu);
        if (!g.subs.empty()) continue;
      }
      if (now - g.last_active < idle) return false;
      {
        std::lock_guard sl(g.state_mu);
        seq_floor = std::max(seq_floor, g.last_seq);
        replay_bytes_gauge.add(-static_cast<double>(g.bytes));
      }
      g.evicted = true;
      evicted.push_back(g.name);
      lru.erase(g.lru);
      games.erase(git);
      evicted_total.inc();
      games_gauge.set(static_cast<double>(games.size()));
      return true;
    }
    return false;
  }

  void notify(const std::vector<std::string>& evicted) {
    for (const auto& name : evicted)
      for (const auto& fn : evict_listeners) fn(name);
  }

  std::shared_ptr<game_log> find(std::string_view game) const {
    std::lock_guard lk(games_mu);
    auto it = games.find(std::string(game));
    return it == games.end() ? nullptr : it->second;
  }

  // Appends `n` events to `game`'s log, in order: `fill(i, ev)` writes the i-th one's JSON once
  // its seq is known. One lookup of the game and one hold of its publish_mu for all of them, so
  // no other publish to the game comes between them. Subscribers get each shared event, in seq
  // order (publish_mu). Returns the last seq; 0 (and no log made) when n is 0.
  template <class Fill>
  std::uint64_t publish(std::string_view game, std::size_t n, Fill&& fill) {
    if (n == 0) return 0;
    std::vector<std::string> evicted;
    auto g = get(game, true, evicted);
    notify(evicted);
    std::lock_guard pl(g->publish_mu);
    std::uint64_t seq = 0;
    for (std::size_t i = 0; i < n; ++i) {
      auto ev = std::make_shared<event>();
      std::vector<std::shared_ptr<subscriber_entry>> subs;
      {
        std::lock_guard sl(g->state_mu);
        ev->seq = ++g->last_seq;
        fill(i, *ev);
        g->events.push_back(ev);
        const auto before = g->bytes;
        g->bytes += event_hub::bytes_of(*ev);
        trim_locked(*g);
        replay_bytes_gauge.add(static_cast<double>(g->bytes) - static_cast<double>(before));
        subs = g->subs;
      }
      published.inc();
      const event_ptr shared = ev;
      g->delivering.store(std::this_thread::get_id());
      for (auto& sub : subs)
        if (sub->alive.load()) sub->fn(shared);
      g->delivering.store(std::thread::id{});
      seq = shared->seq;
    }
    return seq;
  }

  // Drops the oldest events while over either cap; the newest event always stays.
  void trim_locked(game_log& g) {
    while (g.events.size() > 1 && (g.events.size() > replay_capacity || g.bytes > replay_bytes)) {
      (g.events.size() > replay_capacity ? trimmed_count : trimmed_bytes).inc();
      g.bytes -= event_hub::bytes_of(*g.events.front());
      g.events.pop_front();
    }
  }

  const std::size_t replay_capacity;
  const std::size_t replay_bytes;
  const std::size_t max_games;
  metrics::counter& published;
  metrics::counter& trimmed_count;
  metrics::counter& trimmed_bytes;
  metrics::gauge& games_gauge;
  metrics::gauge& replay_bytes_gauge;
  metrics::counter& evicted_total;
  metrics::counter& refused_total;
  metrics::counter& over_cap_total;
  const policies::clock* clock = &default_clock;
  policies::duration idle{0};
  std::vector<std::function<void(const std::string&)>> evict_listeners;
  mutable std::mutex games_mu;
  std::unordered_map<std::string, std::shared_ptr<game_log>> games;
  std::list<std::string> lru;   // most recently active first
  std::uint64_t seq_floor = 0;  // highest seq of any evicted log
};

namespace {

class subscription_impl final : public event_hub::subscription {
 public:
  subscription_impl(std::weak_ptr<event_hub::impl> hub, std::weak_ptr<game_log> game,
                    std::shared_ptr<subscriber_entry> entry)
      : hub_(std::move(hub)), game_(std::move(game)), entry_(std::move(entry)) {}
  ~subscription_impl() override {
    entry_->alive.store(false);
    auto g = game_.lock();
    if (!g) return;
    {
      // Unless we are inside this game's delivery (a callback dropping its own handle), wait
      // for a delivery in progress so the callback never runs after the handle is gone.
      std::unique_lock<std::mutex> pl;
      if (g->delivering.load() != std::this_thread::get_id()) pl = std::unique_lock(g->publish_mu);
      std::lock_guard sl(g->state_mu);
      std::erase_if(g->subs, [&](const auto& s) { return s.get() == entry_.get(); });
    }
    // The game stays for game_idle after its last subscriber left.
    if (auto h = hub_.lock()) {
      std::lock_guard lk(h->games_mu);
      h->mark_active_locked(*g, h->clock->now());
    }
  }

 private:
  std::weak_ptr<event_hub::impl> hub_;  // expires with the hub: a handle may outlive it
  std::weak_ptr<game_log> game_;
  std::shared_ptr<subscriber_entry> entry_;
};

}  // namespace

event_hub::event_hub(std::size_t replay_capacity, std::size_t max_games, metrics::registry& metrics)
    : event_hub(replay_capacity, std::numeric_limits<std::size_t>::max(), max_games, metrics) {}

event_hub::event_hub(std::size_t replay_capacity, std::size_t replay_bytes, std::size_t max_games,
                     metrics::registry& metrics)
    : impl_(std::make_shared<impl>(replay_capacity, replay_bytes, max_games, metrics)) {}

event_hub::~event_hub() = default;

void event_hub::set_idle_policy(std::chrono::milliseconds game_idle, const policies::clock& clock) {
  std::lock_guard lk(impl_->games_mu);
  impl_->idle = game_idle;
  impl_->clock = &clock;
}

void event_hub::add_evict_listener(std::function<void(const std::string&)> fn) {
  impl_->evict_listeners.push_back(std::move(fn));
}

bool event_hub::admit(std::string_view game) {
  std::vector<std::string> evicted;
  auto g = impl_->get(game, false, evicted);
  impl_->notify(evicted);
  return g != nullptr;
}

std::size_t event_hub::games() const {
  std::lock_guard lk(impl_->games_mu);
  return impl_->games.size();
}

std::size_t event_hub::subscribers(std::string_view game) const {
  auto g = impl_->find(game);
  if (!g) return 0;
  std::lock_guard sl(g->state_mu);
  return g->subs.size();
}

std::size_t event_hub::bytes_of(const event& e) {
  std::size_t n = per_event_bytes + e.json.size();
  if (const auto* f = e.typed.get())
    n += sizeof(event_fields) + f->npc.size() + f->in_reply_to.size() + f->text.size() + f->conversation_id.size() +
         f->cluster_id.size() + f->turn_id.size() + f->reason.size();
  return n;
}

std::uint64_t event_hub::publish(std::string_view game, std::string_view body) {
  return impl_->publish(game, 1, [&](std::size_t, event& ev) {
    ev.json.reserve(body.size() + 32);
    ev.json.append("{\"seq\":").append(std::to_string(ev.seq));
    if (!body.empty()) ev.json.append(",").append(body);
    ev.json.append("}");
  });
}

namespace {

// Renders `body` into the event (its seq set) and fills the typed fields readers match on.
void fill_typed(const event_body& body, event& ev) {
  render_event(ev.seq, body, ev.json);
  ev.type = event_type(body);
  event_fields f;
  if (const auto* m = std::get_if<npc_message>(&body)) {
    f.npc = m->npc;
    f.in_reply_to = m->in_reply_to.value_or(std::string());
    f.text = m->text;
    f.conversation_id = m->conversation_id;
    f.cluster_id = m->cluster_id;
  } else if (const auto* t = std::get_if<npc_typing>(&body)) {
    f.npc = t->npc;
    f.in_reply_to = t->in_reply_to.value_or(std::string());
    f.cluster_id = t->cluster_id;
  } else if (const auto* d = std::get_if<turn_dropped>(&body)) {
    f.turn_id = d->turn_id;
    f.reason = d->reason;
  } else {
    return;  // no typed fields: none allocated
  }
  ev.typed = std::make_unique<const event_fields>(std::move(f));
}

}  // namespace

std::uint64_t event_hub::publish(std::string_view game, const event_body& body) {
  return impl_->publish(game, 1, [&](std::size_t, event& ev) { fill_typed(body, ev); });
}

std::uint64_t event_hub::publish_all(std::string_view game, std::span<const event_body> bodies) {
  return impl_->publish(game, bodies.size(), [&](std::size_t i, event& ev) { fill_typed(bodies[i], ev); });
}

read_result event_hub::read(std::string_view game, std::uint64_t since, std::size_t max_events) const {
  read_result r;
  r.next = since;
  auto g = impl_->find(game);
  if (!g) {
    // Unknown (or evicted) game: a client ahead of us must start over.
    r.reset = since > 0;
    r.next = 0;
    return r;
  }
  std::lock_guard sl(g->state_mu);
  const std::uint64_t last = g->last_seq;
  const std::uint64_t oldest = g->events.empty() ? last + 1 : g->events.front()->seq;
  std::uint64_t from = since + 1;  // first seq wanted
  if (since > last || from < oldest) {
    // Ahead of the log (the daemon restarted, or the game was evicted and re-created) or
    // behind what it still keeps: hand the client everything kept, from a new base.
    r.reset = true;
    from = oldest;
    r.next = oldest - 1;
  }
  if (from > last) return r;
  std::size_t idx = static_cast<std::size_t>(from - oldest);
  for (; idx < g->events.size() && r.events.size() < max_events; ++idx) r.events.push_back(g->events[idx]);
  if (!r.events.empty()) r.next = r.events.back()->seq;
  return r;
}

std::uint64_t event_hub::last_seq(std::string_view game) const {
  auto g = impl_->find(game);
  if (!g) return 0;
  std::lock_guard sl(g->state_mu);
  return g->last_seq;
}

std::unique_ptr<event_hub::subscription> event_hub::subscribe(std::string_view game, subscriber fn) {
  auto entry = std::make_shared<subscriber_entry>();
  entry->fn = std::move(fn);
  // A subscription made before the game's first event creates the (empty) log; games with
  // subscribers are never evicted, so the handle always finds its log. The subscriber is
  // added under games_mu so that no eviction slips in between.
  std::vector<std::string> evicted;
  std::shared_ptr<game_log> g;
  for (;;) {
    g = impl_->get(game, true, evicted);
    std::lock_guard lk(impl_->games_mu);
    if (g->evicted) continue;  // evicted between get() and here: take the new log
    std::lock_guard sl(g->state_mu);
    g->subs.push_back(entry);
    break;
  }
  impl_->notify(evicted);
  return std::make_unique<subscription_impl>(impl_, g, entry);
}

}  // namespace orch::queues
