#include "workers/memory_sync_worker.hpp"

#include <rapidjson/document.h>

#include "workers/snapshot_worker.hpp"
#include "workers/sync_mailbox.hpp"

namespace orch::workers {

namespace {

constexpr const char* members_label = "group_members";
constexpr const char* status_label = "status";

// The content hash (timestamps aside) of a parsed group_members text, as group_block_hash
// computes it for the daemon's own block; 0 when the text is not such a block.
std::uint64_t content_hash_of(const rapidjson::Document& d) {
  if (d.HasParseError() || !d.IsObject()) return 0;
  group_block b;
  auto m = d.FindMember("members");
  if (m == d.MemberEnd() || !m->value.IsObject()) return 0;
  for (const auto& e : m->value.GetObject()) {
    block_member bm;
    bm.name.assign(e.name.GetString(), e.name.GetStringLength());
    if (e.value.IsObject()) {
      auto a = e.value.FindMember("appearance");
      if (a != e.value.MemberEnd() && a->value.IsString())
        bm.appearance.assign(a->value.GetString(), a->value.GetStringLength());
    }
    b.members.push_back(std::move(bm));
  }
  auto u = d.FindMember("updates");
  if (u == d.MemberEnd() || !u->value.IsArray()) return 0;
  for (const auto& line : u->value.GetArray())
    if (line.IsString()) b.updates.emplace_back(line.GetString(), line.GetStringLength());
  return group_block_hash(b);
}

void parse_block(rapidjson::Document& d, std::string_view text) {
  d.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(text.data(), text.size());
}

std::uint64_t content_hash_of(std::string_view text) {
  rapidjson::Document d;
  parse_block(d, text);
  return content_hash_of(d);
}

// Whether merge_group_members takes anything from `d` when it is no NPC edit: the keys it
// carries over (any the daemon does not own) and the members' non-empty notes, read as it
// reads them.
bool holds_npc_part(const rapidjson::Document& d) {
  if (d.HasParseError() || !d.IsObject()) return true;
  for (const auto& m : d.GetObject()) {
    const std::string_view k(m.name.GetString(), m.name.GetStringLength());
    if (k != "members" && k != "summary" && k != "updates" && k != "last_updated") return true;
  }
  auto members = d.FindMember("members");
  if (members == d.MemberEnd() || !members->value.IsObject()) return false;
  for (const auto& m : members->value.GetObject()) {
    if (!m.value.IsObject()) continue;
    auto n = m.value.FindMember("notes");
    if (n != m.value.MemberEnd() && n->value.IsString() && n->value.GetStringLength() > 0) return true;
  }
  return false;
}

// The content hash of `text` when a cheap sync need not keep it: it holds nothing of the NPC's,
// so once it is also the daemon's last write (no NPC edit), merge_group_members gives for it
// what it gives for "": the same text, hashes and flags. nullopt when it must be kept.
std::optional<std::uint64_t> daemon_only_content(std::string_view text) {
  rapidjson::Document d;
  parse_block(d, text);
  if (holds_npc_part(d)) return std::nullopt;
  return content_hash_of(d);
}

std::string_view first_line(std::string_view s) { return s.substr(0, s.find('\n')); }

}  // namespace

struct memory_sync_worker::op {
  std::shared_ptr<const sync_request> req;
  std::function<void(bool)> done;
  written before;
  std::optional<std::uint64_t> steps;  // the agent's message steps when this sync started
  std::optional<policies::time_point> seen;
  std::string lane;  // the Letta lane: agent, or agent and game (per_game)
};

memory_sync_worker::memory_sync_worker(letta_client& letta, snapshot_worker& snapshots, const policies::clock& clock,
                                       metrics::registry& m)
    : letta_(letta),
      snapshots_(snapshots),
      clock_(clock),
      writes_(m.get_counter("npcorch_letta_block_writes_total", "Core-memory block writes made")),
      skipped_(m.get_counter("npcorch_block_writes_skipped_total",
                             "Block writes skipped because the text would not change")),
      merges_(m.get_counter("npcorch_memory_merges_total", "Block writes merged with the NPC's own edits")),
      conflicts_(m.get_counter("npcorch_memory_conflicts_total",
                               "NPC edits of daemon-owned block fields (daemon fields won, NPC text kept)")),
      failures_(m.get_counter("npcorch_memory_sync_failures_total", "Memory syncs that finally failed")),
      dropped_(m.get_counter("npcorch_memory_sync_dropped_total",
                             "Memory syncs shed or dropped before they ran (retried next snapshot)")),
      reads_skipped_(m.get_counter("npcorch_letta_block_reads_skipped_total",
                                   "Block reads skipped: no agent step since the daemon wrote the block")),
      block_lag_(m.get_histogram("npcorch_block_lag_seconds",
                                 "A group change queued for sync to its group_members block written")) {}

void memory_sync_worker::observe_lag(const op& o) {
  if (o.seen) block_lag_.observe(std::chrono::duration<double>(clock_.now() - *o.seen).count());
}

void memory_sync_worker::add_synced_listener(std::function<void(const block_synced&)> fn) {
  listeners_.push_back(std::move(fn));
}

memory_sync_worker::written memory_sync_worker::last_written(const std::string& agent) {
  std::lock_guard lk(mu_);
  auto it = written_.find(agent);
  return it == written_.end() ? written{} : it->second;
}

std::size_t memory_sync_worker::kept_text_bytes() {
  std::lock_guard lk(mu_);
  std::size_t n = 0;
  for (const auto& [lane, w] : written_) n += w.members.value.size() + w.status.value.size();
  return n;
}

void memory_sync_worker::forget_game(const std::string& game_id) {
  if (game_id.empty()) return;
  const std::string suffix = "|" + game_id;
  std::lock_guard lk(mu_);
  std::erase_if(written_, [&](const auto& kv) {
    const auto& k = kv.first;
    return k.size() > suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0;
  });
}

void memory_sync_worker::handle(queues::message m, queues::completion done) {
  auto letter = m.payload.as<sync_mailbox::letter>();
  auto req = letter ? letter->take() : nullptr;
  auto token = std::make_shared<queues::completion>(std::move(done));
  sync(
      std::move(req), [token](bool) { token->done(); }, m.arrival);
}

void memory_sync_worker::on_dropped(queues::message m, queues::drop_reason r) {
  auto letter = m.payload.as<sync_mailbox::letter>();
  auto req = letter ? letter->take() : nullptr;
  if (r == queues::drop_reason::coalesced) return;
  if (!req || req->agent_id.empty()) return;
  dropped_.inc();
  snapshots_.mark_sync_failed(req->agent_id);
}

void memory_sync_worker::sync(std::shared_ptr<const sync_request> req, std::function<void(bool ok)> done,
                              std::optional<policies::time_point> seen) {
  if (!req || req->agent_id.empty()) {  // NPCs without an agent get no writes
    done(true);
    return;
  }
  auto o = std::make_shared<op>();
  o->lane = letta_.lane_key(req->agent_id, req->game_id);
  o->before = last_written(o->lane);
  o->steps = letta_.game_message_steps(req->agent_id, req->game_id);
  o->seen = seen;
  o->req = std::move(req);
  o->done = std::move(done);
  sync_members(std::move(o));
}

void memory_sync_worker::read_block(std::shared_ptr<op> o, const kept_block& before, const char* label,
                                    on_block_fn next) {
  if (o->steps && before.steps == o->steps) {
    reads_skipped_.inc();
    letta_result known;
    known.ok = true;
    return (this->*next)(std::move(o), known, known_text{before.value, before.daemon_only, before.text_hash});
  }
  letta_.get_game_block(o->req->agent_id, o->req->game_id, label, [this, o, next](letta_result r, std::string current) {
    (this->*next)(o, r, known_text{std::move(current), std::nullopt, 0});
  });
}

void memory_sync_worker::keep(const std::string& lane, kept_block written::*which, known_text value,
                              std::optional<std::uint64_t> steps, const merge_outcome* wrote) {
  // Whether a group_members text may go, parsed outside the lock.
  std::uint64_t value_hash = value.daemon_text_hash;
  if (which == &written::members && !value.daemon_only && !value.text.empty()) {
    value.daemon_only = daemon_only_content(value.text);
    value_hash = text_hash(value.text);
  }
  std::lock_guard lk(mu_);
  kept_block& k = written_[lane].*which;
  if (wrote) {
    k.text_hash = wrote->text_hash;
    k.owned_hash = wrote->owned_hash;
  }
  k.steps = steps;
  if (value.daemon_only && value_hash == k.text_hash) {  // the daemon's last write, nothing of the NPC's
    std::string().swap(k.value);
    k.daemon_only = value.daemon_only;
    return;
  }
  k.daemon_only.reset();
  // A daemon-only text whose lane was forgotten meanwhile (forget_game) is not the last write
  // any more and cannot be told again: the next sync reads the block.
  if (value.daemon_only && value.text.empty()) k.steps.reset();
  k.value = std::move(value.text);  // moved, not copied: no buffer sized by a longer old text
}

void memory_sync_worker::sync_members(std::shared_ptr<op> o) {
  const kept_block& before = o->before.members;
  read_block(std::move(o), before, members_label, &memory_sync_worker::on_members);
}

void memory_sync_worker::on_members(std::shared_ptr<op> o, letta_result r, known_text current) {
  if (!r.ok && r.error != "not_found" && r.http_status != 404) return finish(o, false);
  const auto& req = *o->req;
  const group_block block = members_block_of(req);  // the slim request's block, formatted here
  const bool held = current.daemon_only || !current.text.empty();
  if (!req.force && held &&
      (current.daemon_only ? *current.daemon_only : content_hash_of(current.text)) == group_block_hash(block)) {
    skipped_.inc();
    keep(o->lane, &written::members, std::move(current), o->steps, nullptr);  // what the block holds is known now
    observe_lag(*o);
    return sync_status(o);
  }
  // A daemon-only text merges as "" does (daemon_only_content): current.text is "" then.
  auto merged = merge_group_members(block, current.text, o->before.members.text_hash, o->before.members.owned_hash);
  if (merged.npc_edited) merges_.inc();
  if (merged.conflict) conflicts_.inc();
  letta_.update_game_block(
      req.agent_id, req.game_id, members_label, merged.text, [this, o, merged](letta_result w) mutable {
        if (!w.ok) return finish(o, false);
        writes_.inc();
        keep(o->lane, &written::members, known_text{std::move(merged.text), std::nullopt, 0}, o->steps, &merged);
        observe_lag(*o);
        sync_status(o);
      });
}

void memory_sync_worker::sync_status(std::shared_ptr<op> o) {
  // The members are listed now (written, or already there): the conversation worker may tell
  // the NPC of its newcomers.
  block_synced ev{o->req->game_id, o->req->npc_name, member_names_of(*o->req)};
  for (const auto& fn : listeners_) fn(ev);
  const kept_block& before = o->before.status;
  read_block(std::move(o), before, status_label, &memory_sync_worker::on_status);
}

void memory_sync_worker::on_status(std::shared_ptr<op> o, letta_result r, known_text current_text) {
  if (!r.ok && r.error != "not_found" && r.http_status != 404) return finish(o, false);
  const auto& req = *o->req;
  std::string current = std::move(current_text.text);  // status texts are always kept whole
  if (!req.force && first_line(current) == req.status) {
    skipped_.inc();
    keep(o->lane, &written::status, known_text{std::move(current), std::nullopt, 0}, o->steps, nullptr);
    return finish(o, true);
  }
  auto merged = merge_status(req.status, current, o->before.status.text_hash);
  if (merged.npc_edited) merges_.inc();
  if (merged.conflict) conflicts_.inc();
  letta_.update_game_block(
      req.agent_id, req.game_id, status_label, merged.text, [this, o, merged](letta_result w) mutable {
        if (!w.ok) return finish(o, false);
        writes_.inc();
        keep(o->lane, &written::status, known_text{std::move(merged.text), std::nullopt, 0}, o->steps, &merged);
        finish(o, true);
      });
}

void memory_sync_worker::finish(std::shared_ptr<op> o, bool ok) {
  if (!ok) {
    failures_.inc();
    snapshots_.mark_sync_failed(o->req->agent_id);
  }
  auto done = std::move(o->done);
  if (done) done(ok);
}

}  // namespace orch::workers
