// conversation_state, second part: the world around the turn flow - cluster diffs, block
// syncs, the periodic tick (due notices, parked jobs, pruning) and shutdown.
#include <algorithm>

#include "workers/conversation_detail.hpp"
#include "workers/conversation_state.hpp"

namespace orch::workers {

namespace pol = orch::policies;
using conversation_detail::find_entity;
using conversation_detail::is_agent_npc;
using pol::time_point;

conversation_effects conversation_state::on_cluster_diff(const cluster_diff& diff, time_point now) {
  conversation_effects fx;
  const world_view* v = diff.view.get();
  for (const auto& ch : diff.changes) {
    for (const auto& m : ch.members) {
      const entity_view* e = find_entity(v, m);
      if (!is_agent_npc(e)) continue;
      const std::string nk = key(diff.game_id, m);
      npc_agent_[nk] = e->agent_id;
      // An NPC that itself joined meets everyone already there.
      const bool self_joined = std::find(ch.joined.begin(), ch.joined.end(), m) != ch.joined.end();
      const auto& newcomers = self_joined ? ch.members : ch.joined;
      notices_.on_left(nk, ch.left);
      if (notices_.on_joined(nk, newcomers, now).added > 0 || notices_.has_eligible(nk)) notice_candidates_.insert(nk);
    }
    for (const auto& gone : ch.left) {
      notices_.clear_pending(key(diff.game_id, gone));
      // Turns whose speaker left before work started end here.
      std::vector<std::uint64_t> cancel;
      for (const auto& [id, j] : jobs_)
        if (j.game == diff.game_id && j.cluster == ch.cluster_id && j.kind == job_kind::turn && j.speaker == gone &&
            j.status != job_status::generating)
          cancel.push_back(id);
      for (auto id : cancel) finish_job(id, false, "speaker_left", fx);
    }
    pump(key(diff.game_id, ch.cluster_id), now, fx);
  }
  update_gauge();
  return fx;
}

conversation_effects conversation_state::on_block_synced(const block_synced& s, time_point now) {
  const std::string nk = key(s.game_id, s.npc_name);
  if (notices_.on_synced(nk, s.members, now)) notice_candidates_.insert(nk);
  auto listed = s.members;
  std::sort(listed.begin(), listed.end());
  block_members_[nk] = std::move(listed);
  return {};
}

conversation_effects conversation_state::on_shutdown(std::string_view reason) {
  conversation_effects fx;
  for (const auto& [id, t] : turns_)
    if (!t.replied) emit_dropped(t.game, id, reason, fx);
  turns_.clear();
  jobs_.clear();
  game_jobs_.clear();
  floors_.clear();
  for (auto& [k, st] : npcs_) {
    st.generating = 0;
    st.jobs = 0;
  }
  update_gauge();
  return fx;
}

conversation_effects conversation_state::tick(time_point now) {
  conversation_effects fx;
  // Notices whose ride-along window passed go out alone.
  std::vector<std::string> due;
  for (const auto& nk : notice_candidates_) {
    auto since = notices_.eligible_since(nk);
    if (since && *since + opts_.notice_delay <= now) due.push_back(nk);
  }
  for (const auto& nk : due) {
    auto st = npcs_.find(nk);
    if (st != npcs_.end() && st->second.jobs > 0) continue;  // it rides along with that job
    notice_candidates_.erase(nk);
    const auto sep = nk.find('\x1f');
    const std::string game = nk.substr(0, sep), npc = nk.substr(sep + 1);
    auto view = views_.view(game);
    const entity_view* e = find_entity(view.get(), npc);
    if (!is_agent_npc(e) || e->cluster_id.empty()) {
      notices_.clear_pending(nk);  // alone now: nobody to announce
      continue;
    }
    job j;
    j.kind = job_kind::notice;
    j.priority = pol::turn_priority::notice;
    j.game = game;
    j.cluster = e->cluster_id;
    j.npc = npc;
    j.agent = e->agent_id;
    if (auto c = view->clusters.find(e->cluster_id); c != view->clusters.end()) j.members = c->second.members;
    add_job(std::move(j), fx);
  }
  // Expire and resubmit parked jobs.
  std::vector<std::string> keys;
  for (const auto& [fk, f] : floors_)
    if (!f.waiting.empty()) keys.push_back(fk);
  for (const auto& fk : keys) pump(fk, now, fx);
  if (now - last_prune_ > std::chrono::seconds(10)) {
    last_prune_ = now;
    cooldown_.prune(now);
    player_rate_.prune(now);
    echo_.prune(now);
    notices_.prune(now);
  }
  update_gauge();
  return fx;
}

void conversation_state::forget_game(const std::string& game) {
  const std::string prefix = key(game, "");
  auto of_game = [&](const std::string& k) { return k.compare(0, prefix.size(), prefix) == 0; };
  std::erase_if(npcs_, [&](const auto& kv) { return of_game(kv.first) && kv.second.jobs == 0; });
  std::erase_if(npc_agent_, [&](const auto& kv) { return of_game(kv.first) && !npcs_.contains(kv.first); });
  std::erase_if(notice_candidates_, [&](const std::string& k) { return of_game(k) && !npcs_.contains(k); });
  std::erase_if(block_members_, [&](const auto& kv) { return of_game(kv.first) && !npcs_.contains(kv.first); });
}

}  // namespace orch::workers
