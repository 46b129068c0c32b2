#include "tools/npc-flood/flood_shard.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>

namespace orch::tools {

namespace {

using std::chrono::duration;
using std::chrono::duration_cast;

std::int64_t epoch_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::chrono::steady_clock::duration seconds_f(double s) {
  return duration_cast<std::chrono::steady_clock::duration>(duration<double>(s));
}

std::string string_member(const rapidjson::Value& o, const char* name) {
  auto it = o.FindMember(name);
  return it != o.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString(), it->value.GetStringLength())
                                                     : std::string();
}

constexpr int long_poll_wait_ms = 1000;
const std::string k_snapshot = "snapshot";
const std::string k_chat = "chat_turn";
const std::string k_malformed = "malformed";

}  // namespace

flood_shard::flood_shard(shard_plan plan, const flood_registry& reg, int players_per_game)
    : plan_(std::move(plan)),
      pool_(io_, plan_.endpoint, plan_.host, plan_.connections, plan_.timeout),
      timer_(io_),
      rng_(plan_.seed * 1000003u + static_cast<std::uint64_t>(plan_.index)) {
  // Microseconds since the epoch: newer than any seq an earlier run sent unless it sent more
  // than a million snapshots a second for one game (and still below 2^53, exact as a double).
  const auto seq_base = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  for (int gi : plan_.games) {
    game_slot g;
    const std::string id = (plan_.ingest ? "ingest-" : plan_.game_prefix) + std::to_string(gi);
    g.world = std::make_unique<game_world>(id, reg, players_per_game, gi, rng_, plan_.stalls);
    g.world->set_seq_base(seq_base);
    g.ingest_seq = seq_base;
    games_.push_back(std::move(g));
  }
  if (plan_.ingest) {
    // One body per game, rendered once; each request only patches gameId and seq, so the
    // load generator spends its time on the network, not on JSON.
    for (auto& g : games_) {
      const std::string body = g.world->snapshot_body(epoch_seconds());
      const auto pos = body.find(",\"timestamp\"");
      g.ingest_suffix = body.substr(pos);
    }
  }
}

void flood_shard::run() {
  start_ = clock::now();
  end_ = start_ + seconds_f(plan_.duration_s);
  drain_end_ = end_ + seconds_f(plan_.drain_s);
  chat_next_ = start_;
  // Spread each game's first snapshot over one interval so games do not fire in lockstep.
  for (std::size_t i = 0; i < games_.size(); ++i) {
    const double offset = plan_.snapshot_interval_s * static_cast<double>(i) / static_cast<double>(games_.size());
    games_[i].next_due = start_ + seconds_f(offset);
    games_[i].last_step = start_;
  }
  if (plan_.listen_events && !plan_.ingest) {
    for (auto& g : games_) {
      auto l = std::make_unique<listener>();
      l->game_id = g.world->game_id();
      l->conn = std::make_shared<http_connection>(io_, plan_.endpoint, plan_.host,
                                                  plan_.timeout + std::chrono::milliseconds(long_poll_wait_ms));
      l->retry = std::make_unique<boost::asio::steady_timer>(io_);
      listeners_.push_back(std::move(l));
    }
    for (auto& l : listeners_) poll(*l);
  }
  if (plan_.ingest && plan_.ingest_rate <= 0) {
    for (int c = 0; c < plan_.connections; ++c) send_ingest(0);
  }
  tick();
  io_.run();
  stats_.turns = tracker_.stats();
}

std::string flood_shard::next_ingest_body() {
  auto& g = games_[ingest_game_++ % games_.size()];
  std::string body;
  body.reserve(g.ingest_suffix.size() + 64);
  body += "{\"gameId\":\"";
  body += g.world->game_id();
  body += "\",\"seq\":";
  body += std::to_string(++g.ingest_seq);
  body += g.ingest_suffix;
  return body;
}

void flood_shard::send_ingest(std::size_t) {
  if (stopped_ || clock::now() >= end_) return;
  raw_request r;
  r.target = snapshot_path;
  r.body = next_ingest_body();
  if (plan_.game_id_header) r.game_id = games_[(ingest_game_ - 1) % games_.size()].world->game_id();
  auto& ks = stats_.kinds[k_snapshot];
  ++ks.offered;
  const bool closed_loop = plan_.ingest_rate <= 0;
  const bool ok = pool_.try_send(r, [this, closed_loop](http_result res) {
    record(k_snapshot, res);
    if (closed_loop && !stopped_) send_ingest(0);
  });
  if (ok)
    ++ks.sent;
  else
    ++ks.not_sent;
}

void flood_shard::tick() {
  if (stopped_) return;
  const auto now = clock::now();
  auto wake = now + std::chrono::milliseconds(50);
  if (now < end_) {
    if (plan_.ingest) {
      if (plan_.ingest_rate > 0) {
        const auto step = seconds_f(1.0 / plan_.ingest_rate);
        for (; chat_next_ <= now; chat_next_ += step) send_ingest(0);
        wake = std::min(wake, chat_next_);
      }
    } else {
      if (plan_.snapshot_interval_s > 0) {
        const auto step = seconds_f(plan_.snapshot_interval_s);
        for (auto& g : games_) {
          for (; g.next_due <= now; g.next_due += step) offer_snapshot(g, now);
          wake = std::min(wake, g.next_due);
        }
      }
      if (plan_.chat_turns_per_s > 0 && !games_.empty()) {
        const auto step = seconds_f(1.0 / plan_.chat_turns_per_s);
        for (; chat_next_ <= now; chat_next_ += step) offer_chat(now);
        wake = std::min(wake, chat_next_);
      }
    }
    wake = std::min(wake, end_);
  } else if (finished(now)) {
    stop();
    return;
  }
  timer_.expires_at(wake);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) tick();
  });
}

bool flood_shard::finished(clock::time_point now) const {
  if (now >= drain_end_) return true;
  // Done early once every request is answered and every accepted turn has its outcome.
  const bool turns_settled = listeners_.empty() || !tracker_.stats().events_available || tracker_.open() == 0;
  return pool_.busy_count() == 0 && turns_settled;
}

void flood_shard::stop() {
  stopped_ = true;
  timer_.cancel();
  pool_.close_all();
  for (auto& l : listeners_) {
    l->retry->cancel();
    l->conn->close();
  }
}

void flood_shard::offer_snapshot(game_slot& g, clock::time_point now) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  if (plan_.malformed_share > 0 && u(rng_) < plan_.malformed_share) return offer_malformed(g);
  auto& ks = stats_.kinds[k_snapshot];
  ++ks.offered;
  if (pool_.busy_count() >= static_cast<std::size_t>(plan_.connections)) {
    ++ks.not_sent;
    return;
  }
  g.world->step(duration<double>(now - g.last_step).count(), rng_);
  g.last_step = now;
  raw_request r;
  r.target = snapshot_path;
  r.body = g.world->snapshot_body(epoch_seconds());
  if (plan_.game_id_header) r.game_id = g.world->game_id();
  pool_.try_send(r, [this](http_result res) { record(k_snapshot, res); });
  ++ks.sent;
}

void flood_shard::offer_chat(clock::time_point) {
  auto& g = games_[chat_game_++ % games_.size()];
  std::uniform_real_distribution<double> u(0.0, 1.0);
  if (plan_.malformed_share > 0 && u(rng_) < plan_.malformed_share) return offer_malformed(g);
  auto& ks = stats_.kinds[k_chat];
  ++ks.offered;
  if (pool_.busy_count() >= static_cast<std::size_t>(plan_.connections)) {
    ++ks.not_sent;
    return;
  }
  const auto turn = plan_.address_round_robin ? g.world->addressed_turn(rng_) : g.world->chat_turn(plan_.mix, rng_);
  raw_request r;
  r.target = chat_turn_path;
  r.body = turn.body;
  if (plan_.game_id_header) r.game_id = g.world->game_id();
  turn_info info{g.world->game_id(), turn.speaker, turn.target, turn.text};
  pool_.try_send(r, [this, info = std::move(info)](http_result res) mutable {
    record(k_chat, res);
    if (res.status != 202 && res.status != 200) return;
    rapidjson::Document d;
    d.Parse<rapidjson::kParseIterativeFlag>(res.body.c_str(), res.body.size());
    if (d.HasParseError() || !d.IsObject()) return;
    auto it = d.FindMember("turnId");
    if (it != d.MemberEnd() && it->value.IsString()) {
      tracker_.on_ack(it->value.GetString(), std::move(info), clock::now());
    }
  });
  ++ks.sent;
}

void flood_shard::offer_malformed(game_slot& g) {
  auto& ks = stats_.kinds[k_malformed];
  ++ks.offered;
  if (pool_.busy_count() >= static_cast<std::size_t>(plan_.connections)) {
    ++ks.not_sent;
    return;
  }
  const raw_request r = malformed_request(malformed_kind_++, g.world->game_id());
  pool_.try_send(r, [this, label = r.label](http_result res) {
    record(k_malformed, res);
    stats_.malformed.record(label, res.status);
  });
  ++ks.sent;
}

void flood_shard::record(const std::string& kind, const http_result& r) {
  auto& ks = stats_.kinds[kind];
  if (r.status == 0) {
    // Our own shutdown aborts requests still in flight after the drain: not the daemon's fault.
    if (stopped_ && r.ec == boost::asio::error::operation_aborted) return;
    ++ks.failed;
    return;
  }
  ++ks.answered;
  ++ks.statuses[r.status];
  ks.ack.add(r.latency_s);
}

void flood_shard::poll(listener& l) {
  if (stopped_) return;
  raw_request r;
  r.method = "GET";
  r.content_type.clear();
  r.target = "/letta/v1/events?gameId=" + l.game_id + "&since=" + std::to_string(l.since);
  if (l.primed) r.target += "&wait_ms=" + std::to_string(long_poll_wait_ms);  // else at once
  l.conn->send(r, [this, &l](http_result res) {
    if (stopped_) return;
    if (res.status == 200) {
      const auto before = l.since;
      handle_events(l, res.body);
      // An answer with nothing new that came back at once (a server ignoring wait_ms) would
      // make this a busy loop: pause a little before asking again.
      if (l.since == before && res.latency_s < 0.1) {
        l.retry->expires_after(std::chrono::milliseconds(100));
        l.retry->async_wait([this, &l](boost::system::error_code ec) {
          if (!ec) poll(l);
        });
        return;
      }
      poll(l);
      return;
    }
    if (res.status == 404 || res.status == 405 || res.status == 501) {
      tracker_.stats().events_available = false;  // the route is not there: stop asking
      return;
    }
    // Connection trouble or a transient answer (429/503): ask again shortly.
    l.retry->expires_after(std::chrono::milliseconds(200));
    l.retry->async_wait([this, &l](boost::system::error_code ec) {
      if (!ec) poll(l);
    });
  });
}

void flood_shard::handle_events(listener& l, const std::string& body) {
  const auto now = clock::now();
  // The first answer replays what the game's buffer held before this run: match turn
  // outcomes from it (ours could be among them), but do not count its events.
  const bool count = l.primed;
  l.primed = true;
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(body.c_str(), body.size());
  if (d.HasParseError() || !d.IsObject()) return;
  if (auto reset = d.FindMember("reset");
      count && reset != d.MemberEnd() && reset->value.IsBool() && reset->value.GetBool()) {
    ++tracker_.stats().event_resets;
  }
  if (auto next = d.FindMember("next"); next != d.MemberEnd() && next->value.IsUint64()) {
    l.since = std::max(l.since, next->value.GetUint64());
  }
  auto events = d.FindMember("events");
  if (events == d.MemberEnd() || !events->value.IsArray()) return;
  for (const auto& e : events->value.GetArray()) {
    if (!e.IsObject()) continue;
    auto type = e.FindMember("type");
    if (type == e.MemberEnd() || !type->value.IsString()) continue;
    const std::string t = type->value.GetString();
    if (count) ++tracker_.stats().events_by_type[t];
    if (auto seq = e.FindMember("seq"); seq != e.MemberEnd() && seq->value.IsUint64()) {
      l.since = std::max(l.since, seq->value.GetUint64());
    }
    if (t == "npc_message" || t == "npc_typing") {
      const std::string irt = string_member(e, "inReplyTo");
      if (irt.empty()) continue;  // unprompted speech
      if (t == "npc_typing")
        tracker_.on_typing(irt, string_member(e, "npc"), now);
      else
        tracker_.on_message(irt, string_member(e, "npc"), string_member(e, "text"), now);
    } else if (t == "turn_dropped") {
      const std::string id = string_member(e, "turnId");
      if (!id.empty()) tracker_.on_dropped(id, string_member(e, "reason"), now);
    }
  }
}

}  // namespace orch::tools
