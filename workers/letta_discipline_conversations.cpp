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
  const std::string summary = conversation_summary(game_id);
  for (auto& [agent, d] : directories_)
    if (d.by_summary.erase(summary) > 0) d.complete = false;
}

void letta_discipline::stop() {
  scheduler_->stop();
  std::unordered_map<std::string, directory> dropped;  // released outside the lock
  std::lock_guard lk(otid_mu_);
  dropped.swap(directories_);
}

void letta_discipline::attempt(std::shared_ptr<shared_call> sc, std::function<void(attempt_result)> done) {
  auto after_conv = [self = shared_from_this(), sc, done](std::optional<conversation_entry> conv,
                                                          transport_response failure) {
    if (!sc->game.empty() && !conv) return self->complete_attempt(sc, std::move(failure), done);
    const bool check = sc->req.endpoint == letta_endpoint::messages && sc->timed_out && !sc->otid.empty();
    if (!check) return self->send_now(sc, conv ? &*conv : nullptr, done);
    // The last attempt timed out: it may have landed. Read the newest messages and take the
    // reply from there rather than running the step twice.
    transport_request look{
        letta_endpoint::messages_list,
        "GET",
        conv ? conversation_recent_target(conv->id, recent_limit) : agent_recent_target(sc->req.agent_id, recent_limit),
        {},
        sc->req.agent_id,
        {},
        {},
        {}};
    if (conv) look.conversation_id = conv->id;
    self->execute_extra(std::move(look), nullptr, [self, sc, conv, done](transport_response r) {
      if (ok_status(r)) {
        if (auto reply = reply_after_otid(r.body, sc->otid, true)) {
          self->metrics_
              .get_counter("npcorch_letta_resends_avoided_total",
                           "Timed-out messages whose reply was found in the thread (not resent)")
              .inc();
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

void letta_discipline::execute_extra(transport_request req, const char* kind,
                                     std::function<void(transport_response)> cb) {
  scheduler_->charge(1);
  execute_counted(std::move(req), kind, std::move(cb));
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
      default:
        break;
    }
  }
  const bool check_label = !req.block_id.empty();
  std::string label = req.label;
  execute_counted(std::move(req), nullptr,
                  [self = shared_from_this(), sc, done, check_label, label = std::move(label)](transport_response r) {
                    if (check_label && ok_status(r)) {
                      // Blocks mapped by the order of their creation: a block that says otherwise is not
                      // trusted. The conversation is resolved again (its labels read) on the retry.
                      auto got = parse_block_label(r.body);
                      if (got && *got != label) {
                        self->metrics_
                            .get_counter("npcorch_letta_block_label_mismatches_total",
                                         "Isolated blocks whose label was not the one expected")
                            .inc();
                        {
                          std::lock_guard lk(self->otid_mu_);
                          self->conversations_.erase(sc->lane);  // the directory keeps it: found again, labels read
                        }
                        transport_response bad;
                        bad.status = 0;
                        bad.error = "block_label_mismatch";
                        return self->complete_attempt(sc, std::move(bad), done);
                      }
                    }
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
  if (!shared_) return resolve_in_letta(sc, std::move(cb));
  // Another daemon may have resolved it (a game moved here): the shared map first.
  shared_->get(sc->lane, [self = shared_from_this(), sc, cb = std::move(cb)](std::optional<std::string> v) mutable {
    if (v) {
      if (auto e = decode_conversation_entry(*v)) {
        self->metrics_
            .get_counter("npcorch_letta_conversations_total", "Per-game conversations resolved", {{"how", "shared"}})
            .inc();
        {
          std::lock_guard lk(self->otid_mu_);
          self->conversations_[sc->lane] = *e;
        }
        return cb(std::move(*e), {});
      }
    }
    self->resolve_in_letta(sc, self->publish_shared(sc->lane, std::move(cb)));
  });
}

void letta_discipline::resolve_in_letta(const std::shared_ptr<shared_call>& sc, entry_fn cb) {
  const std::string agent = sc->req.agent_id;
  with_directory(agent, [self = shared_from_this(), agent, summary = conversation_summary(sc->game), lane = sc->lane,
                         cb = std::move(cb)](std::optional<transport_response> failure) mutable {
    if (failure) return cb(std::nullopt, std::move(*failure));
    self->after_directory(agent, summary, lane, std::move(cb));
  });
}

void letta_discipline::with_directory(const std::string& agent, failure_fn ready) {
  bool loaded = false;
  bool start_load = false;
  {
    std::lock_guard lk(otid_mu_);
    auto& d = directories_[agent];
    loaded = d.loaded;
    if (!loaded) {
      d.waiters.push_back(std::move(ready));  // the load under way (or started below) answers it
      start_load = !d.loading;
      d.loading = true;
    }
  }
  if (loaded) return ready(std::nullopt);
  if (start_load) load_directory(agent);
}

void letta_discipline::load_directory(const std::string& agent) {
  auto found = std::make_shared<std::vector<letta_conversation>>();
  const std::string prefix(conversation_summary_prefix());
  page_conversations(
      agent, prefix, {},
      [found](std::vector<letta_conversation>& page) {
        for (auto& c : page) found->push_back(std::move(c));
        return false;
      },
      [self = shared_from_this(), agent, prefix, found](std::optional<transport_response> failure) {
        std::vector<failure_fn> waiters;
        {
          std::lock_guard lk(self->otid_mu_);
          auto& d = self->directories_[agent];
          d.loading = false;
          if (!failure) {
            d.loaded = true;
            for (auto& c : *found) {
              if (c.agent_id != agent || c.summary.compare(0, prefix.size(), prefix) != 0) continue;
              d.by_summary.try_emplace(c.summary, std::move(c));  // oldest first: the first one wins
            }
          }
          waiters.swap(d.waiters);
        }
        self->metrics_
            .get_counter("npcorch_letta_directory_loads_total", "Per-agent conversation directories listed",
                         {{"result", failure ? "failed" : "ok"}})
            .inc();
        for (auto& w : waiters) w(failure);
      });
}

void letta_discipline::page_conversations(std::string agent, std::string search, std::string after,
                                          std::function<bool(std::vector<letta_conversation>&)> page, failure_fn done) {
  constexpr unsigned page_size = 100;
  transport_request list{letta_endpoint::conversation_list,
                         "GET",
                         conversations_page_target(agent, search, page_size, after),
                         {},
                         agent,
                         {},
                         {},
                         {}};
  execute_extra(std::move(list), nullptr,
                [self = shared_from_this(), agent, search, page = std::move(page),
                 done = std::move(done)](transport_response r) mutable {
                  if (!ok_status(r)) return done(std::move(r));
                  auto items = parse_conversation_list(r.body);
                  if (!items) return done(bad_answer());
                  const bool full = items->size() >= page_size;
                  const std::string last = items->empty() ? std::string() : items->back().id;
                  if (page(*items) || !full || last.empty()) return done(std::nullopt);
                  self->page_conversations(std::move(agent), std::move(search), last, std::move(page), std::move(done));
                });
}

void letta_discipline::after_directory(const std::string& agent, const std::string& summary, const std::string& lane,
                                       entry_fn cb) {
  std::optional<letta_conversation> found;
  bool complete = true;
  {
    std::lock_guard lk(otid_mu_);
    if (auto it = conversations_.find(lane); it != conversations_.end()) return cb(it->second, {});
    auto& d = directories_[agent];
    if (auto it = d.by_summary.find(summary); it != d.by_summary.end()) found = it->second;
    complete = d.complete;
  }
  auto adopt = [self = shared_from_this(), agent, summary, lane](letta_conversation c, entry_fn done) {
    self->metrics_
        .get_counter("npcorch_letta_conversations_total", "Per-game conversations resolved", {{"how", "found"}})
        .inc();
    auto entry = std::make_shared<conversation_entry>();
    entry->id = c.id;
    self->read_block_labels(entry, std::move(c.isolated_block_ids), lane, agent, std::move(done));
  };
  if (found) return adopt(std::move(*found), std::move(cb));
  // Alone, the directory is all there is; with other daemons (a shared map) one of them may
  // have created the pair since the listing (a game that moved here while Redis was down).
  if (complete && !shared_) return create_conversation(agent, summary, lane, std::move(cb));
  // Entries were dropped since the directory was listed, or other daemons create pairs too:
  // look for this one in Letta first.
  auto hit = std::make_shared<std::optional<letta_conversation>>();
  page_conversations(
      agent, summary, {},
      [hit, agent, summary](std::vector<letta_conversation>& page) {
        for (auto& c : page)  // summary_search also matches longer summaries
          if (c.summary == summary && c.agent_id == agent) {
            *hit = std::move(c);
            return true;
          }
        return false;
      },
      [self = shared_from_this(), hit, agent, summary, lane, adopt,
       cb = std::move(cb)](std::optional<transport_response> failure) mutable {
        if (failure) return cb(std::nullopt, std::move(*failure));
        if (*hit) return adopt(std::move(**hit), std::move(cb));
        self->create_conversation(agent, summary, lane, std::move(cb));
      });
}

void letta_discipline::create_conversation(const std::string& agent, const std::string& summary,
                                           const std::string& lane, entry_fn cb) {
  transport_request create{letta_endpoint::conversation_create,
                           "POST",
                           conversations_create_target(agent),
                           build_create_conversation_body(summary, isolated_labels()),
                           agent,
                           {},
                           {},
                           {}};
  execute_extra(std::move(create), nullptr,
                [self = shared_from_this(), agent, summary, lane, cb = std::move(cb)](transport_response made) mutable {
                  if (!ok_status(made)) return cb(std::nullopt, std::move(made));
                  auto c = parse_conversation(made.body);
                  if (!c) return cb(std::nullopt, bad_answer());
                  self->metrics_
                      .get_counter("npcorch_letta_conversations_total", "Per-game conversations resolved",
                                   {{"how", "created"}})
                      .inc();
                  auto entry = std::make_shared<conversation_entry>();
                  entry->id = c->id;
                  const auto& labels = isolated_labels();
                  if (c->isolated_block_ids.size() != labels.size())  // not as asked: read each block's label
                    return self->read_block_labels(entry, std::move(c->isolated_block_ids), lane, agent, std::move(cb));
                  // Letta creates the isolated blocks in the order of isolated_block_labels and lists their
                  // ids in that order; each block call checks the label it gets back (send_now).
                  for (std::size_t i = 0; i < labels.size(); ++i) entry->blocks[labels[i]] = c->isolated_block_ids[i];
                  self->remember_conversation(agent, summary, lane, *entry, c->isolated_block_ids);
                  cb(*entry, {});
                });
}

void letta_discipline::remember_conversation(const std::string& agent, const std::string& summary,
                                             const std::string& lane, const conversation_entry& entry,
                                             std::vector<std::string> block_ids) {
  std::lock_guard lk(otid_mu_);
  conversations_[lane] = entry;
  auto& d = directories_[agent];
  letta_conversation c;
  c.id = entry.id;
  c.agent_id = agent;
  c.summary = summary;
  c.isolated_block_ids = std::move(block_ids);
  d.by_summary[summary] = std::move(c);
}

void letta_discipline::read_block_labels(std::shared_ptr<conversation_entry> entry, std::vector<std::string> ids,
                                         std::string lane, std::string agent, entry_fn cb) {
  if (ids.empty()) {  // every label known: remember the conversation
    {
      std::lock_guard lk(otid_mu_);
      conversations_[lane] = *entry;
    }
    return cb(*entry, {});
  }
  const std::string id = ids.back();
  ids.pop_back();
  transport_request get{letta_endpoint::block_get, "GET", block_id_target(id), {}, agent, {}, {}, {}};
  get.block_id = id;
  get.conversation_id = entry->id;
  execute_extra(std::move(get), "conversation",
                [self = shared_from_this(), entry, ids = std::move(ids), lane = std::move(lane),
                 agent = std::move(agent), id, cb = std::move(cb)](transport_response r) mutable {
                  if (!ok_status(r)) return cb(std::nullopt, std::move(r));
                  auto label = parse_block_label(r.body);
                  if (!label) return cb(std::nullopt, bad_answer());
                  entry->blocks[*label] = id;
                  self->read_block_labels(entry, std::move(ids), std::move(lane), std::move(agent), std::move(cb));
                });
}

letta_discipline::entry_fn letta_discipline::publish_shared(const std::string& lane, entry_fn cb) {
  return [self = shared_from_this(), lane, cb = std::move(cb)](std::optional<conversation_entry> e,
                                                               transport_response failure) mutable {
    if (!e) return cb(std::nullopt, std::move(failure));
    std::string mine = encode_conversation_entry(*e);
    auto put = [self, lane, mine, e = std::move(*e), cb = std::move(cb)](std::optional<std::string> standing) mutable {
      if (standing && *standing != mine) {
        if (auto winner = decode_conversation_entry(*standing)) {
          // Another daemon resolved this pair first: use its conversation. One this daemon
          // created in the race stays in Letta unused (counted; the map, not the summary, is
          // what daemons read while Redis is up).
          self->metrics_
              .get_counter("npcorch_letta_conversations_total", "Per-game conversations resolved", {{"how", "adopted"}})
              .inc();
          {
            std::lock_guard lk(self->otid_mu_);
            self->conversations_[lane] = *winner;
          }
          return cb(std::move(*winner), {});
        }
      }
      cb(std::move(e), {});
    };
    self->shared_->put_if_absent(lane, std::move(mine), std::move(put));
  };
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
