#include "workers/conversation_state.hpp"

#include <algorithm>
#include <cmath>

#include "workers/conversation_detail.hpp"
#include "workers/json_text.hpp"

namespace orch::workers {

namespace pol = orch::policies;
using conversation_detail::find_entity;
using conversation_detail::is_agent_npc;
using pol::time_point;

namespace {

constexpr std::string_view system_prefix = "[SYSTEM]";

double distance(const entity_view* a, const entity_view* b) {
  if (!a || !b || !a->position || !b->position) return 0;
  const double dx = a->position->x - b->position->x, dy = a->position->y - b->position->y,
               dz = a->position->z - b->position->z;
  return std::sqrt(dx * dx + dy * dy + dz * dz);
}

std::string conversation_id(std::string_view cluster) { return "conv-" + std::string(cluster); }

}  // namespace

void conversation_effects::append(conversation_effects&& o) {
  for (auto& s : o.submits) submits.push_back(std::move(s));
  for (auto& c : o.calls) calls.push_back(std::move(c));
  for (auto& e : o.events) events.push_back(std::move(e));
}

conversation_state::conversation_state(const pol::conversation_options& opts, const world_views& views,
                                       metrics::registry& m)
    : opts_(opts),
      views_(views),
      cooldown_(opts.npc_cooldown),
      player_rate_(opts.player_turns_per_min),
      echo_(std::chrono::seconds(1)),
      notices_(opts.entry_notice_cooldown),
      metrics_(m),
      turns_player_(m.get_counter("npcorch_conversation_turns_total", "Chat turns arbitrated", {{"kind", "player"}})),
      turns_npc_(m.get_counter("npcorch_conversation_turns_total", "Chat turns arbitrated", {{"kind", "npc"}})),
      turns_system_(m.get_counter("npcorch_conversation_turns_total", "Chat turns arbitrated", {{"kind", "system"}})),
      replies_(m.get_counter("npcorch_conversation_replies_total", "NPC replies broadcast")),
      floor_waits_(m.get_counter("npcorch_conversation_floor_waits_total", "Replies that waited for the floor")),
      cooldown_holds_(m.get_counter("npcorch_conversation_cooldown_holds_total", "NPCs held back by their cooldown")),
      echoes_(m.get_counter("npcorch_conversation_echoes_suppressed_total", "Identical lines suppressed")),
      notices_sent_(m.get_counter("npcorch_conversation_notices_total", "Entry notices delivered")),
      notices_folded_(m.get_counter("npcorch_conversation_notices_folded_total", "Joins folded into another notice")),
      chain_steps_(m.get_counter("npcorch_conversation_chain_steps_total", "NPC-to-NPC reply steps")),
      inline_context_(m.get_counter("npcorch_conversation_inline_context_total",
                                    "Replies that carried the NPC's group inline (its block was behind)")),
      active_(m.get_gauge("npcorch_conversations_active", "Clusters with replies queued or generating")),
      reply_latency_(m.get_histogram("npcorch_reply_latency_seconds",
                                     "A player turn's arrival to the first npc_message answering it")) {}

std::string conversation_state::key(std::string_view game, std::string_view name) {
  std::string k(game);
  k += '\x1f';
  k += name;
  return k;
}

std::size_t conversation_state::parked() const {
  return static_cast<std::size_t>(
      std::count_if(jobs_.begin(), jobs_.end(), [](const auto& kv) { return kv.second.status == job_status::parked; }));
}

std::size_t conversation_state::active_conversations() const { return floors_.size(); }

std::size_t conversation_state::context_lines(const std::string& game, const std::string& npc) const {
  auto it = npcs_.find(key(game, npc));
  return it == npcs_.end() ? 0 : it->second.context.size();
}

void conversation_state::update_gauge() { active_.set(static_cast<double>(active_conversations())); }

void conversation_state::emit_dropped(const std::string& game, const std::string& turn_id, std::string_view reason,
                                      conversation_effects& fx) {
  metrics_
      .get_counter("npcorch_turns_dropped_total", "Accepted turns that got no reply", {{"reason", std::string(reason)}})
      .inc();
  fx.events.push_back({game, queues::turn_dropped{turn_id, std::string(reason)}});
}

conversation_effects conversation_state::on_turn_dropped(const chat_turn& turn, std::string_view reason) {
  conversation_effects fx;
  emit_dropped(turn.game_id, turn.turn_id, reason, fx);
  return fx;
}

std::vector<std::string> conversation_state::cluster_members(const std::string& game, const std::string& cluster,
                                                             const std::vector<std::string>& fallback) const {
  auto v = views_.view(game);
  if (v) {
    auto it = v->clusters.find(cluster);
    if (it != v->clusters.end()) return it->second.members;
  }
  return fallback;
}

void conversation_state::queue_context(const std::string& game, const std::string& npc, context_line line) {
  auto& st = npcs_[key(game, npc)];
  st.context.push_back(std::move(line));
  while (st.context.size() > max_context_lines) st.context.pop_front();
}

conversation_effects conversation_state::on_turn(const chat_turn& turn, time_point now) {
  conversation_effects fx;
  std::string game = turn.game_id;
  if (game.empty()) game = views_.game_of_npc(!turn.v3_npc_id.empty() ? turn.v3_npc_id : turn.target);
  const bool system = turn.system_notice || std::string_view(turn.text).starts_with(system_prefix);
  auto view = game.empty() ? nullptr : views_.view(game);
  const entity_view* speaker = find_entity(view.get(), turn.speaker_name);
  // Only the view says who is an NPC (a client's `kind:"npc"` alone does not skip the rate
  // limit), and only speakers a snapshot named get a rate entry: invented names cannot grow it.
  const bool npc_speaker = !system && speaker && speaker->is_npc;
  (system ? turns_system_ : npc_speaker ? turns_npc_ : turns_player_).inc();

  if (!system && !npc_speaker && speaker) {
    const std::string who = key(game, speaker->name);
    if (!player_rate_.allow(who, now)) {
      emit_dropped(game, turn.turn_id, "rate_limited", fx);
      return fx;
    }
  }
  // A system notice from the game reaches the cluster of its target (or of its speaker).
  const entity_view* anchor = speaker;
  if (system && !turn.target.empty()) {
    if (auto* t = find_entity(view.get(), turn.target)) anchor = t;
  }
  if (!anchor) {
    emit_dropped(game, turn.turn_id, system ? "no_listener" : "speaker_left", fx);
    return fx;
  }
  auto cl = anchor->cluster_id.empty() ? view->clusters.end() : view->clusters.find(anchor->cluster_id);
  std::vector<pol::turn_candidate> cands;
  std::vector<const entity_view*> ents;
  if (cl != view->clusters.end()) {
    for (const auto& name : cl->second.members) {
      if (name == turn.speaker_name) continue;
      const entity_view* e = find_entity(view.get(), name);
      if (!is_agent_npc(e)) continue;
      pol::turn_candidate c;
      c.name = e->name;
      c.id = e->id;
      c.distance = distance(speaker, e);
      const std::string k = key(game, e->name);
      c.last_spoke = cooldown_.last(k);
      c.ready_at = cooldown_.ready_at(k);
      auto st = npcs_.find(k);
      c.busy = st != npcs_.end() && st->second.jobs > 0;
      cands.push_back(std::move(c));
      ents.push_back(e);
    }
  }
  if (cands.empty()) {
    emit_dropped(game, turn.turn_id, "no_listener", fx);
    return fx;
  }
  const auto addressed = pol::find_addressed(cands, turn.v3_npc_id, turn.target, turn.text);
  // A player who addresses an NPC is answered as soon as it is free: its cooldown does not count.
  const bool player_turn = !system && !npc_speaker;
  if (addressed && player_turn) cands[*addressed].ready_at = time_point::min();
  auto sel = pol::pick_responders(cands, addressed, opts_.max_responders, now);
  cooldown_holds_.inc(sel.cooldown_holds);
  if (sel.responders.empty()) {
    // Everyone is cooling down: the turn waits for whoever is ready first rather than
    // going unanswered.
    std::size_t best = 0;
    for (std::size_t i = 1; i < cands.size(); ++i)
      if (cands[i].ready_at < cands[best].ready_at) best = i;
    sel.responders.push_back({best, false, cands[best].ready_at});
  }

  // Bounded per game: a game flooding turns cannot hold more than max_jobs_per_game jobs.
  if (auto gj = game_jobs_.find(game);
      gj != game_jobs_.end() && gj->second + sel.responders.size() > opts_.max_jobs_per_game) {
    emit_dropped(game, turn.turn_id, "overloaded", fx);
    return fx;
  }
  const std::string cluster = cl->first;
  turns_[turn.turn_id] = turn_record{game, 0, false, player_turn, now, {}};
  std::uint64_t addressed_job = 0;
  std::vector<bool> responding(cands.size(), false);
  for (const auto& r : sel.responders) {
    responding[r.index] = true;
    job j;
    j.kind = job_kind::turn;
    j.priority = system ? pol::turn_priority::system : pol::turn_priority::player;
    j.game = game;
    j.cluster = cluster;
    j.npc = ents[r.index]->name;
    j.agent = ents[r.index]->agent_id;
    j.turn_id = turn.turn_id;
    j.speaker = system ? std::string() : turn.speaker_name;
    j.text = turn.text;
    j.system_role = system;
    j.deadline = now + opts_.turn_timeout;
    j.blocked_by = r.addressed ? 0 : addressed_job;
    j.addressed_player = r.addressed && player_turn;
    j.members = cl->second.members;
    if (j.addressed_player) count_addressed_wait(j);
    const auto id = add_job(std::move(j), fx);
    if (r.addressed) addressed_job = id;
  }
  // The others hear the line as context for their next call.
  for (std::size_t i = 0; i < cands.size(); ++i)
    if (!responding[i])
      queue_context(game, ents[i]->name,
                    {system ? "system" : "user", system ? std::string() : turn.speaker_name, turn.text});
  update_gauge();
  return fx;
}

std::uint64_t conversation_state::add_job(job j, conversation_effects& fx) {
  j.id = next_job_++;
  j.status = job_status::queued;
  if (!j.turn_id.empty()) ++turns_[j.turn_id].outstanding;
  auto& st = npcs_[key(j.game, j.npc)];
  ++st.jobs;
  ++game_jobs_[j.game];
  npc_agent_[key(j.game, j.npc)] = j.agent;
  auto& fl = floors_[key(j.game, j.cluster)];  // the conversation is active from now on
  ++fl.jobs;
  if (!j.members.empty()) fl.members = j.members;
  fx.submits.push_back(
      {j.kind == job_kind::notice ? queues::message_kind::system_notice : queues::message_kind::npc_reply, j.agent,
       j.id, j.game});
  const auto id = j.id;
  jobs_.emplace(id, std::move(j));
  return id;
}

bool conversation_state::floor_has_room(const floor_state& f) const {
  return f.active.size() < std::max<std::uint32_t>(opts_.max_concurrent_speakers, 1);
}

bool conversation_state::floor_admits(const floor_state& f, const job& j) const {
  // DESIGN 5.3: a player who addresses an NPC is answered as soon as that NPC's conversation
  // is free; the cluster's speaker cap holds back unprompted speech, not that answer.
  return j.addressed_player || floor_has_room(f);
}

bool conversation_state::may_start(const job& j, time_point now, bool& cooling) const {
  cooling = false;
  auto st = npcs_.find(key(j.game, j.npc));
  if (st != npcs_.end() && st->second.generating != 0 && st->second.generating != j.id) {
    cooling = true;
    return false;
  }
  if (!j.addressed_player && !cooldown_.ready(key(j.game, j.npc), now)) {
    cooling = true;
    return false;
  }
  if (j.blocked_by != 0) {
    auto b = jobs_.find(j.blocked_by);
    if (b != jobs_.end() && b->second.status != job_status::generating) return false;
  }
  return true;
}

conversation_effects conversation_state::on_start(std::uint64_t id, time_point now, bool& started) {
  conversation_effects fx;
  started = false;
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return fx;
  job& j = it->second;
  if (j.status == job_status::generating || j.status == job_status::parked) return fx;  // stale duplicate
  if (now > j.deadline) {
    const std::string fk = key(j.game, j.cluster);
    finish_job(id, false, "timeout", fx);
    pump(fk, now, fx);
    update_gauge();
    return fx;
  }
  auto& fl = floors_[key(j.game, j.cluster)];
  bool cooling = false;
  const bool ready = may_start(j, now, cooling);
  if (j.status == job_status::reserved && ready) {
    start_job(j, now, fx, started);
    update_gauge();
    return fx;
  }
  if (j.status == job_status::reserved) std::erase(fl.active, id);  // lost its chance: wait again
  // Only a job first in line may take a free slot: parked jobs ahead of it keep their order.
  const bool first =
      fl.waiting.empty() || std::make_pair(static_cast<std::uint8_t>(j.priority), j.id) < *fl.waiting.begin();
  if (ready && floor_admits(fl, j) && (first || j.addressed_player)) {
    fl.active.push_back(id);
    start_job(j, now, fx, started);
    update_gauge();
    return fx;
  }
  j.status = job_status::parked;
  fl.waiting.emplace(static_cast<std::uint8_t>(j.priority), j.id);
  (cooling ? cooldown_holds_ : floor_waits_).inc();
  update_gauge();
  return fx;
}

void conversation_state::count_addressed_wait(const job& j) {
  auto st = npcs_.find(key(j.game, j.npc));
  if (st == npcs_.end() || st->second.generating == 0 || st->second.generating == j.id) return;
  auto busy = jobs_.find(st->second.generating);
  if (busy == jobs_.end()) return;
  const job& b = busy->second;
  const char* behind = b.kind == job_kind::notice  ? "notice"
                       : b.kind == job_kind::chain ? "chain"
                       : b.addressed_player        ? "reply"
                                                   : "unaddressed";
  metrics_
      .get_counter("npcorch_conversation_addressed_waits_total",
                   "Addressed player turns that found their NPC answering something else in the game, by what",
                   {{"behind", behind}})
      .inc();
}

void conversation_state::start_job(job& j, time_point now, conversation_effects& fx, bool& started) {
  const std::string nk = key(j.game, j.npc);
  auto& st = npcs_[nk];
  conversation_effects::call call;
  call.job = j.id;
  call.agent_id = j.agent;
  call.game = j.game;
  call.cls = j.kind == job_kind::turn && j.priority == pol::turn_priority::player ? letta_call_class::reply
                                                                                  : letta_call_class::npc;
  // Pending context first (other speakers' recent lines), then any eligible entry notice,
  // then the line this job answers.
  for (auto& line : st.context) call.messages.push_back({line.role, line.text, line.name, {}});
  st.context.clear();
  if (notices_.has_eligible(nk)) {
    auto names = notices_.take(nk, now);
    auto view = views_.view(j.game);
    const entity_view* self = find_entity(view.get(), j.npc);
    std::vector<std::string> in_range;
    for (const auto& m : cluster_members(j.game, j.cluster, j.members))
      if (m != j.npc) in_range.push_back(m);
    call.messages.push_back({"system", pol::format_entry_notice(names, in_range, self ? self->location : ""), "", {}});
    notices_sent_.inc();
    if (names.size() > 1) notices_folded_.inc(names.size() - 1);
  }
  notice_candidates_.erase(nk);
  if (j.kind != job_kind::notice) {
    // A queued sync never delays a reply: when the NPC's block is behind its group, the
    // group rides along inline and the sync follows.
    if (auto listed = block_members_.find(nk); listed != block_members_.end()) {
      std::vector<std::string> near;
      for (const auto& m : cluster_members(j.game, j.cluster, j.members))
        if (m != j.npc) near.push_back(m);
      std::sort(near.begin(), near.end());
      if (near != listed->second) {
        auto view = views_.view(j.game);
        const entity_view* self = find_entity(view.get(), j.npc);
        std::string line = "[context] Near you now: ";
        for (std::size_t i = 0; i < near.size(); ++i) line += (i ? ", " : "") + near[i];
        if (near.empty()) line += "nobody";
        if (self && !self->location.empty()) line += " at " + self->location;
        call.messages.push_back({"system", std::move(line), "", {}});
        inline_context_.inc();
      }
    }
    call.messages.push_back({j.system_role ? "system" : "user", j.text, j.speaker, {}});
  }
  if (call.messages.empty()) {  // a notice that already rode along with another call
    finish_job(j.id, false, "", fx);
    return;
  }
  j.status = job_status::generating;
  st.generating = j.id;
  fx.calls.push_back(std::move(call));
  started = true;
  publish_floor(key(j.game, j.cluster), fx);
  std::vector<std::string> audience;
  for (const auto& m : cluster_members(j.game, j.cluster, j.members))
    if (m != j.npc) audience.push_back(m);
  // npc_typing (DESIGN 3.3): the moment the NPC's reply call starts.
  queues::npc_typing typing{j.npc, j.cluster, std::move(audience), std::nullopt};
  if (!j.turn_id.empty()) typing.in_reply_to = j.turn_id;
  fx.events.push_back({j.game, std::move(typing)});
}

void conversation_state::publish_floor(const std::string& fk, conversation_effects& fx) {
  auto it = floors_.find(fk);
  if (it == floors_.end()) return;
  auto& f = it->second;
  std::optional<std::string> now_floor;
  std::string game, cluster;
  for (auto id : f.active) {
    auto j = jobs_.find(id);
    if (j != jobs_.end() && j->second.status == job_status::generating) {
      now_floor = j->second.npc;
      break;
    }
  }
  if (f.published && now_floor == f.shown) return;
  // The floor key is key(game, cluster).
  const auto sep = fk.find('\x1f');
  game = fk.substr(0, sep);
  cluster = fk.substr(sep + 1);
  f.shown = now_floor;
  f.published = true;
  fx.events.push_back({game, queues::conversation_state{conversation_id(cluster), cluster,
                                                        cluster_members(game, cluster, f.members), now_floor}});
}

void conversation_state::finish_job(std::uint64_t id, bool replied, std::string_view reason, conversation_effects& fx) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  job j = std::move(it->second);
  jobs_.erase(it);
  if (auto gj = game_jobs_.find(j.game); gj != game_jobs_.end() && --gj->second == 0) game_jobs_.erase(gj);
  const std::string nk = key(j.game, j.npc);
  if (auto st = npcs_.find(nk); st != npcs_.end()) {
    if (st->second.generating == id) st->second.generating = 0;
    if (st->second.jobs > 0) --st->second.jobs;
  }
  const std::string fk = key(j.game, j.cluster);
  if (auto f = floors_.find(fk); f != floors_.end()) {
    const bool was_active = std::erase(f->second.active, id) > 0;
    f->second.waiting.erase({static_cast<std::uint8_t>(j.priority), id});
    if (was_active) publish_floor(fk, fx);
    if (f->second.jobs > 0) --f->second.jobs;
    // Conversation idle (its last state, floor null, is out): forget the floor.
    if (f->second.jobs == 0) floors_.erase(f);
  }
  if (j.turn_id.empty()) return;
  auto t = turns_.find(j.turn_id);
  if (t == turns_.end()) return;
  if (replied) t->second.replied = true;
  if (!reason.empty()) t->second.reason = std::string(reason);
  if (t->second.outstanding > 0) --t->second.outstanding;
  if (t->second.outstanding == 0) {
    if (!t->second.replied)
      emit_dropped(t->second.game, j.turn_id, t->second.reason.empty() ? "timeout" : t->second.reason, fx);
    turns_.erase(t);
  }
}

conversation_effects conversation_state::on_reply(std::uint64_t id, const letta_result& result,
                                                  const letta_reply& reply, time_point now) {
  conversation_effects fx;
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second.status != job_status::generating) return fx;
  const job j = it->second;
  const std::string nk = key(j.game, j.npc);
  const std::string fk = key(j.game, j.cluster);
  if (!result.ok) {
    finish_job(id, false, "letta_failed", fx);
    pump(fk, now, fx);
    update_gauge();
    return fx;
  }
  if (reply.text.empty()) {
    finish_job(id, false, "empty_reply", fx);
    pump(fk, now, fx);
    update_gauge();
    return fx;
  }
  if (echo_.is_echo(nk, reply.text, now)) {
    echoes_.inc();
    cooldown_.start(nk, now);
    finish_job(id, false, "duplicate", fx);
    pump(fk, now, fx);
    update_gauge();
    return fx;
  }
  // Broadcast to the cluster; the other NPCs hear it as context, never the speaker itself.
  const auto members = cluster_members(j.game, j.cluster, j.members);
  std::vector<std::string> audience;
  for (const auto& m : members)
    if (m != j.npc) audience.push_back(m);
  queues::npc_message msg{j.npc,        reply.text,  conversation_id(j.cluster), j.cluster, audience,
                          std::nullopt, std::nullopt};
  if (!j.turn_id.empty()) msg.in_reply_to = j.turn_id;
  fx.events.push_back({j.game, std::move(msg)});
  replies_.inc();
  if (auto t = turns_.find(j.turn_id); t != turns_.end() && t->second.player && !t->second.replied) {
    reply_latency_.observe(std::chrono::duration<double>(now - t->second.arrived).count());
    t->second.replied = true;  // the first answer is the one timed
  }
  cooldown_.start(nk, now);

  // A chain step: the reply names another NPC of the cluster (bounded by max_npc_chain).
  auto view = views_.view(j.game);
  std::string chain_target;
  if (j.kind != job_kind::notice && j.chain_depth < opts_.max_npc_chain) {
    std::vector<pol::turn_candidate> cands;
    std::vector<const entity_view*> ents;
    for (const auto& m : audience) {
      const entity_view* e = find_entity(view.get(), m);
      if (!is_agent_npc(e)) continue;
      pol::turn_candidate c;
      c.name = e->name;
      c.id = e->id;
      cands.push_back(std::move(c));
      ents.push_back(e);
    }
    if (auto a = pol::find_addressed(cands, "", "", reply.text)) {
      const entity_view* e = ents[*a];
      chain_target = e->name;
      job c;
      c.kind = job_kind::chain;
      c.priority = pol::turn_priority::chain;
      c.game = j.game;
      c.cluster = j.cluster;
      c.npc = e->name;
      c.agent = e->agent_id;
      c.turn_id = j.turn_id;
      c.speaker = j.npc;
      c.text = reply.text;
      c.chain_depth = j.chain_depth + 1;
      c.deadline = now + opts_.turn_timeout;
      c.members = members;
      add_job(std::move(c), fx);
      chain_steps_.inc();
    }
  }
  for (const auto& m : audience) {
    if (m == chain_target) continue;
    if (is_agent_npc(find_entity(view.get(), m))) queue_context(j.game, m, {"user", j.npc, reply.text});
  }
  finish_job(id, true, "", fx);
  pump(fk, now, fx);
  update_gauge();
  return fx;
}

conversation_effects conversation_state::on_dropped(std::uint64_t id, std::string_view reason, time_point now) {
  conversation_effects fx;
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return fx;
  const std::string fk = key(it->second.game, it->second.cluster);
  finish_job(id, false, reason, fx);
  pump(fk, now, fx);
  update_gauge();
  return fx;
}

void conversation_state::pump(const std::string& fk, time_point now, conversation_effects& fx) {
  auto fit = floors_.find(fk);
  if (fit == floors_.end()) return;
  auto& f = fit->second;
  std::vector<std::uint64_t> expired;
  for (auto w = f.waiting.begin(); w != f.waiting.end();) {
    auto jit = jobs_.find(w->second);
    if (jit == jobs_.end()) {
      w = f.waiting.erase(w);
      continue;
    }
    job& j = jit->second;
    if (now > j.deadline) {
      expired.push_back(j.id);
      ++w;
      continue;
    }
    bool cooling = false;
    if (!floor_admits(f, j) || !may_start(j, now, cooling)) {
      ++w;
      continue;
    }
    // Reserve a slot and resubmit: the dispatcher keeps per-agent order and the budget.
    j.status = job_status::reserved;
    f.active.push_back(j.id);
    fx.submits.push_back(
        {j.kind == job_kind::notice ? queues::message_kind::system_notice : queues::message_kind::npc_reply, j.agent,
         j.id, j.game});
    w = f.waiting.erase(w);
  }
  for (auto id : expired) finish_job(id, false, "timeout", fx);
}

}  // namespace orch::workers
