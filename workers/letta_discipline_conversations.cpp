// letta_discipline, per-game conversations and the check before a resend (DESIGN 5.4): the
// attempt of one call, run inside its lane (one attempt in flight per lane, retries included),
// so a conversation's first calls cannot race to create it twice.
#include <map>

#include <boost/asio/post.hpp>

#include "workers/json_text.hpp"
#include "workers/letta_codec.hpp"
#include "workers/letta_conversation_codec.hpp"
#include "workers/letta_discipline.hpp"

namespace orch::workers {

namespace {

constexpr unsigned recent_limit = 20;

transport_response bad_answer() {
  transport_response r;
  r.status = 0;
  r.error = "bad_response";
  return r;
}

// A LettaResponse carrying a reply read back from the thread.
std::string response_body(const letta_reply& reply) {
  return "{\"messages\":[{\"id\":\"message-recovered\",\"message_type\":\"assistant_message\",\"content\":" +
         json_quote(reply.text) + "}],\"stop_reason\":{\"message_type\":\"stop_reason\",\"stop_reason\":\"end_turn\"}}";
}

bool ok_status(const transport_response& r) { return r.status >= 200 && r.status < 300; }

}  // namespace

std::optional<std::string> letta_discipline::conversation_of(const std::string& agent_id,
                                                             const std::string& game_id) const {
  const std::string lane = lane_key(agent_id, game_id);
  std::lock_guard lk(otid_mu_);
  auto it = conversations_.find(lane);
  if (it == conversations_.end()) return std::nullopt;
  return it->second.id;
}

void letta_discipline::forget_game(const std::string& game_id) {
  if (!per_game_ || game_id.empty()) return;
  const std::string suffix = "|" + game_id;
  auto ends_with = [&](const std::string& k) {
    return k.size() > suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  std::lock_guard lk(otid_mu_);
  std::erase_if(conversations_, [&](const auto& kv) { return ends_with(kv.first); });
  std::erase_if(steps_, [&](const auto& kv) { return ends_with(kv.first); });
}

void letta_discipline::attempt(std::shared_ptr<shared_call> sc, std::function<void(attempt_result)> done) {
  auto after_conv = [self = shared_from_this(), sc, done](std::optional<conversation_entry> conv,
                                                          transport_response failure) {
    if (!sc->game.empty() && !conv) return self->complete_attempt(sc, std::move(failure), done);
    const bool check = sc->req.endpoint == letta_endpoint::messages && sc->timed_out && !sc->otid.empty();
    if (!check) return self->send_now(sc, conv ? &*conv : nullptr, done);
    // The last attempt timed out: it may have landed. Read the newest messages and take the
    // reply from there rather than running the step twice.
    transport_request look{letta_endpoint::messages_list, "GET",
                           conv ? conversation_recent_target(conv->id, recent_limit)
                                : agent_recent_target(sc->req.agent_id, recent_limit),
                           {}, sc->req.agent_id, {}, {}, {}};
    if (conv) look.conversation_id = conv->id;
    self->execute_counted(std::move(look), nullptr, [self, sc, conv, done](transport_response r) {
      if (ok_status(r)) {
        if (auto reply = reply_after_otid(r.body, sc->otid, true)) {
          self->metrics_.get_counter("npcorch_letta_resends_avoided_total",
                                     "Timed-out messages whose reply was found in the thread (not resent)").inc();
          transport_response found;
          found.status = 200;
          found.body = response_body(*reply);
          return self->complete_attempt(sc, std::move(found), done);
        }
      }
      self->metrics_.get_counter("npcorch_letta_resends_total", "Timed-out messages sent again (not found landed)")
          .inc();
      self->send_now(sc, conv ? &*conv : nullptr, done);
    });
  };
  if (sc->game.empty()) return after_conv(std::nullopt, {});
  ensure_conversation(sc, std::move(after_conv));
}

void letta_discipline::send_now(std::shared_ptr<shared_call> sc, const conversation_entry* conv,
                                std::function<void(attempt_result)> done) {
  transport_request req = sc->req;
  if (conv) {
    switch (req.endpoint) {
      case letta_endpoint::messages:
        req.target = conversation_messages_target(conv->id);
        req.conversation_id = conv->id;
        if (!req.body.empty() && req.body.back() == '}') {  // ConversationMessageRequest: not streamed
          req.body.pop_back();
          req.body += ",\"streaming\":false}";
        }
        break;
      case letta_endpoint::block_get:
      case letta_endpoint::block_update:
        if (auto it = conv->blocks.find(req.label); it != conv->blocks.end()) {
          req.target = block_id_target(it->second);
          req.block_id = it->second;
          req.conversation_id = conv->id;
        }  // a label the conversation does not isolate is the agent's shared block
        break;
      default: break;
    }
  }
  execute_counted(std::move(req), nullptr, [self = shared_from_this(), sc, done](transport_response r) {
    self->complete_attempt(sc, std::move(r), done);
  });
}

void letta_discipline::ensure_conversation(const std::shared_ptr<shared_call>& sc, entry_fn cb) {
  std::optional<conversation_entry> known;
  {
    std::lock_guard lk(otid_mu_);
    if (auto it = conversations_.find(sc->lane); it != conversations_.end()) known = it->second;
  }
  if (known) return cb(std::move(known), {});
  if (!directory_) return resolve_in_letta(sc, std::move(cb));
  // Another daemon may have resolved it (a game moved here): the shared map, then Letta.
  directory_->get(sc->lane, [self = shared_from_this(), sc, cb = std::move(cb)](std::optional<std::string> v) mutable {
    if (v) {
      if (auto e = decode_conversation_entry(*v)) {
        self->metrics_.get_counter("npcorch_letta_conversations_total", "Per-game conversations resolved",
                                   {{"how", "shared"}}).inc();
        {
          std::lock_guard lk(self->otid_mu_);
          self->conversations_[sc->lane] = *e;
        }
        return cb(std::move(*e), {});
      }
    }
    self->resolve_in_letta(sc, std::move(cb));
  });
}

void letta_discipline::resolve_in_letta(const std::shared_ptr<shared_call>& sc, entry_fn cb) {
  const std::string agent = sc->req.agent_id;
  const std::string summary = conversation_summary(sc->game);
  const std::string lane = sc->lane;
  transport_request find{letta_endpoint::conversation_list, "GET", conversations_list_target(agent, summary), {},
                         agent, {}, {}, {}};
  execute_counted(std::move(find), nullptr, [self = shared_from_this(), agent, summary, lane,
                                             cb = std::move(cb)](transport_response r) mutable {
    if (!ok_status(r)) return cb(std::nullopt, std::move(r));
    auto list = parse_conversation_list(r.body);
    if (!list) return cb(std::nullopt, bad_answer());
    for (auto& c : *list) {
      if (c.summary != summary || c.agent_id != agent) continue;  // summary_search also matches parts
      self->metrics_.get_counter("npcorch_letta_conversations_total", "Per-game conversations resolved",
                                 {{"how", "found"}}).inc();
      auto entry = std::make_shared<conversation_entry>();
      entry->id = c.id;
      return self->read_block_labels(entry, std::move(c.isolated_block_ids), lane, agent, std::move(cb));
    }
    transport_request create{letta_endpoint::conversation_create, "POST", conversations_create_target(agent),
                             build_create_conversation_body(summary, isolated_labels()), agent, {}, {}, {}};
    self->execute_counted(std::move(create), nullptr, [self, agent, lane, cb = std::move(cb)](transport_response made) mutable {
      if (!ok_status(made)) return cb(std::nullopt, std::move(made));
      auto c = parse_conversation(made.body);
      if (!c) return cb(std::nullopt, bad_answer());
      self->metrics_.get_counter("npcorch_letta_conversations_total", "Per-game conversations resolved",
                                 {{"how", "created"}}).inc();
      auto entry = std::make_shared<conversation_entry>();
      entry->id = c->id;
      self->read_block_labels(entry, std::move(c->isolated_block_ids), lane, agent, std::move(cb), true);
    });
  });
}

void letta_discipline::read_block_labels(std::shared_ptr<conversation_entry> entry, std::vector<std::string> ids,
                                         std::string lane, std::string agent, entry_fn cb, bool created) {
  if (ids.empty()) return remember_conversation(*entry, created, lane, std::move(cb));  // every label known
  const std::string id = ids.back();
  ids.pop_back();
  transport_request get{letta_endpoint::block_get, "GET", block_id_target(id), {}, agent, {}, {}, {}};
  get.block_id = id;
  get.conversation_id = entry->id;
  execute_counted(std::move(get), "conversation",
                  [self = shared_from_this(), entry, ids = std::move(ids), lane = std::move(lane),
                   agent = std::move(agent), id, cb = std::move(cb), created](transport_response r) mutable {
                    if (!ok_status(r)) return cb(std::nullopt, std::move(r));
                    auto label = parse_block_label(r.body);
                    if (!label) return cb(std::nullopt, bad_answer());
                    entry->blocks[*label] = id;
                    self->read_block_labels(entry, std::move(ids), std::move(lane), std::move(agent), std::move(cb),
                                            created);
                  });
}

void letta_discipline::remember_conversation(conversation_entry entry, bool created, const std::string& lane,
                                             entry_fn cb) {
  auto keep = [self = shared_from_this(), lane, cb = std::move(cb)](conversation_entry e) mutable {
    {
      std::lock_guard lk(self->otid_mu_);
      self->conversations_[lane] = e;
    }
    cb(std::move(e), {});
  };
  if (!directory_) return keep(std::move(entry));
  std::string mine = encode_conversation_entry(entry);
  directory_->put_if_absent(lane, mine, [self = shared_from_this(), entry, created, mine, keep = std::move(keep)](
                                            std::optional<std::string> standing) mutable {
    if (standing && *standing != mine) {
      if (auto winner = decode_conversation_entry(*standing)) {
        // Another daemon resolved this pair first: use its conversation. One we created in
        // this race stays in Letta unused (same summary; the map, not summary_search, is
        // what daemons read while Redis is up) and is counted.
        self->metrics_.get_counter("npcorch_letta_conversations_total", "Per-game conversations resolved",
                                   {{"how", created ? "lost_race" : "adopted"}}).inc();
        return keep(std::move(*winner));
      }
    }
    keep(std::move(entry));
  });
}

std::string letta_discipline::encode_conversation_entry(const conversation_entry& e) {
  std::string out = e.id;
  std::map<std::string, std::string> sorted(e.blocks.begin(), e.blocks.end());  // one text per entry
  for (const auto& [label, id] : sorted) out += "\n" + label + "\t" + id;
  return out;
}

std::optional<letta_discipline::conversation_entry> letta_discipline::decode_conversation_entry(const std::string& s) {
  conversation_entry e;
  std::size_t pos = s.find('\n');
  e.id = s.substr(0, pos);
  if (e.id.empty()) return std::nullopt;
  while (pos != std::string::npos) {
    const std::size_t start = pos + 1;
    pos = s.find('\n', start);
    const std::string line = s.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
    const auto tab = line.find('\t');
    if (tab == std::string::npos || tab == 0 || tab + 1 == line.size()) return std::nullopt;
    e.blocks[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return e;
}

}  // namespace orch::workers
