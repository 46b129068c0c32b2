#include "workers/conversation_worker.hpp"

#include <boost/asio/post.hpp>

namespace orch::workers {

conversation_worker::conversation_worker(const policies::conversation_options& opts, const world_views& views,
                                         letta_client& letta, queues::dispatcher& dispatcher, queues::event_hub& events,
                                         const policies::clock& clock, queues::timer_service& timers,
                                         metrics::registry& metrics)
    : letta_(letta),
      dispatcher_(dispatcher),
      events_(events),
      clock_(clock),
      state_(opts, views, metrics),
      timers_(timers),
      self_(std::make_shared<conversation_worker*>(this)) {
  arm_timer();
}

conversation_worker::~conversation_worker() {
  stop();
  *self_ = nullptr;
}

void conversation_worker::forget_game(const std::string& game) {
  std::lock_guard lk(mu_);
  state_.forget_game(game);
}

void conversation_worker::stop() {
  if (stopped_.exchange(true)) return;
  conversation_effects fx;
  {
    std::lock_guard lk(mu_);
    fx = state_.on_shutdown("shutdown");
  }
  for (auto& e : fx.events) events_.publish(e.game, e.body);
}

void conversation_worker::arm_timer() {
  std::lock_guard lk(mu_);
  if (stopped_) return;
  std::weak_ptr<conversation_worker*> weak = self_;
  const auto now = clock_.now();
  timers_.schedule(now + tick_period, now, [weak] {
    auto p = weak.lock();
    if (!p || !*p) return;
    conversation_worker* w = *p;
    if (w->stopped_) return;
    conversation_effects fx;
    {
      std::lock_guard lk2(w->mu_);
      fx = w->state_.tick(w->clock_.now());
    }
    w->run(std::move(fx));
    w->arm_timer();
  });
}

void conversation_worker::run(conversation_effects fx) {
  for (auto& e : fx.events) events_.publish(e.game, e.body);
  for (auto& s : fx.submits) {
    queues::message m;
    m.kind = s.kind;
    // Each pair's replies, notices and block syncs (app.cpp) are keyed apart, so that the
    // dispatcher never holds a player's reply behind a notice or a sync queued before it: the
    // conversation state lets one job of an NPC generate at a time, players first (DESIGN
    // 5.3), and the Letta lane serialises the requests, replies first (5.4).
    const char* ns = s.kind == queues::message_kind::system_notice ? "note:" : "talk:";
    m.key = ns + letta_.lane_key(s.agent_id, s.game);
    m.payload = std::make_shared<conversation_job_ref>(conversation_job_ref{s.job});
    auto r = dispatcher_.submit(std::move(m));
    if (r.status != queues::submit_status::accepted) {
      const std::string_view why = r.status == queues::submit_status::stopped ? "shutdown" : "shed";
      conversation_effects more;
      {
        std::lock_guard lk(mu_);
        more = state_.on_dropped(s.job, why, clock_.now());
      }
      run(std::move(more));
    }
  }
  // Letta calls come only from run_in_slot, which binds them to their worker slot.
}

void conversation_worker::handle_turn(queues::message m, queues::completion done) {
  auto turn = m.payload.as<chat_turn>();
  conversation_effects fx;
  if (turn) {
    std::lock_guard lk(mu_);
    fx = state_.on_turn(*turn, clock_.now());
  }
  done.done();
  run(std::move(fx));
}

void conversation_worker::handle_reply(queues::message m, queues::completion done) {
  run_in_slot(std::move(m), std::move(done));
}

void conversation_worker::handle_notice(queues::message m, queues::completion done) {
  run_in_slot(std::move(m), std::move(done));
}

void conversation_worker::run_in_slot(queues::message m, queues::completion done) {
  auto ref = m.payload.as<conversation_job_ref>();
  if (!ref) return;
  conversation_effects fx;
  bool started = false;
  {
    std::lock_guard lk(mu_);
    fx = state_.on_start(ref->job, clock_.now(), started);
  }
  auto calls = std::move(fx.calls);
  fx.calls.clear();
  if (!started || calls.empty()) {
    done.done();
    run(std::move(fx));
    return;
  }
  run(std::move(fx));
  // The worker slot stays taken until the reply: a slot waits for Letta, a thread does not.
  auto slot = std::make_shared<queues::completion>(std::move(done));
  auto& call = calls.front();
  const std::uint64_t job = call.job;
  letta_.send_in_game(call.cls, call.agent_id, call.game, std::move(call.messages),
                      [this, job, slot](letta_result result, letta_reply reply) {
                        conversation_effects after;
                        {
                          std::lock_guard lk(mu_);
                          after = state_.on_reply(job, result, reply, clock_.now());
                        }
                        slot->done();
                        run(std::move(after));
                      });
}

void conversation_worker::on_dropped(queues::message m, queues::drop_reason reason) {
  const std::string_view why = reason == queues::drop_reason::shutdown ? "shutdown" : "shed";
  conversation_effects fx;
  if (m.kind == queues::message_kind::chat_turn) {
    auto turn = m.payload.as<chat_turn>();
    if (!turn) return;
    std::lock_guard lk(mu_);
    fx = state_.on_turn_dropped(*turn, why);
  } else {
    auto ref = m.payload.as<conversation_job_ref>();
    if (!ref) return;
    std::lock_guard lk(mu_);
    fx = state_.on_dropped(ref->job, why, clock_.now());
  }
  run(std::move(fx));
}

void conversation_worker::on_cluster_diff(const cluster_diff& diff) {
  conversation_effects fx;
  {
    std::lock_guard lk(mu_);
    fx = state_.on_cluster_diff(diff, clock_.now());
  }
  run(std::move(fx));
}

void conversation_worker::on_block_synced(const block_synced& synced) {
  conversation_effects fx;
  {
    std::lock_guard lk(mu_);
    fx = state_.on_block_synced(synced, clock_.now());
  }
  run(std::move(fx));
}

}  // namespace orch::workers
