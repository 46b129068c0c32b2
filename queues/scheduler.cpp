#include "queues/scheduler.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace orch::queues {

bool scheduler::merge_config(const queues_config& current, const queues_config& next, queues_config& merged,
                             std::string& error) {
  if (next.queues.empty()) {
    error = "queues: at least one queue is required";
    return false;
  }
  for (std::size_t i = 0; i < next.queues.size(); ++i) {
    const auto& q = next.queues[i];
    const std::string path = "queues." + q.name;
    if (q.name.empty()) {
      error = "queues: a queue has an empty name";
      return false;
    }
    for (std::size_t j = 0; j < i; ++j)
      if (next.queues[j].name == q.name) {
        error = path + ": defined twice";
        return false;
      }
    if (q.max_latency.count() <= 0) {
      error = path + ".max_latency_ms: expected a positive integer";
      return false;
    }
    if (q.workers == 0) {
      error = path + ".workers: expected a positive integer";
      return false;
    }
    if (q.capacity == 0) {
      error = path + ".capacity: expected a positive integer";
      return false;
    }
  }
  for (std::size_t k = 0; k < message_kind_count; ++k)
    if (next.routes[k] >= next.queues.size()) {
      error = "routes." + std::string(message_kind_names[k]) + ": no such queue";
      return false;
    }
  queues_config out;
  for (const auto& old : current.queues) {
    auto idx = next.index_of(old.name);
    if (!idx) {
      error = "queues." + old.name + ": a queue cannot be removed by a reload";
      return false;
    }
    out.queues.push_back(next.queues[*idx]);
  }
  for (const auto& q : next.queues)
    if (!current.index_of(q.name)) out.queues.push_back(q);
  for (std::size_t k = 0; k < message_kind_count; ++k) out.routes[k] = *out.index_of(next.queues[next.routes[k]].name);
  merged = std::move(out);
  return true;
}

scheduler::scheduler(queues_config cfg) {
  std::string error;
  if (!reconfigure(cfg, error)) throw std::invalid_argument(error);
}

bool scheduler::reconfigure(const queues_config& next, std::string& error) {
  queues_config merged;
  if (!merge_config(cfg_, next, merged, error)) return false;
  cfg_ = std::move(merged);
  qs_.resize(cfg_.queues.size());  // existing queues keep their index, state and messages
  return true;
}

message& scheduler::stamp(message& m, policies::time_point now) {
  m.queue = cfg_.routes[static_cast<std::size_t>(m.kind)];
  m.accept_seq = ++last_seq_;
  m.arrival = now;
  m.deadline = now + std::chrono::duration_cast<policies::duration>(cfg_.queues[m.queue].max_latency);
  return m;
}

push_result scheduler::push(message m, admission a) {
  if (m.queue >= qs_.size()) m.queue = cfg_.routes[static_cast<std::size_t>(m.kind)];
  if (m.accept_seq == 0 || nodes_.count(m.accept_seq)) m.accept_seq = last_seq_ + 1;
  last_seq_ = std::max(last_seq_, m.accept_seq);

  push_result r;
  r.queue = m.queue;
  auto& q = qs_[m.queue];

  if (m.coalesce) {
    auto kit = keys_.find(m.key);
    if (kit != keys_.end()) {
      const std::uint64_t old_seq = kit->second.coalesce_slot[static_cast<std::size_t>(m.kind)];
      if (old_seq != 0) {
        auto& old = nodes_.at(old_seq);
        auto& oq = qs_[old.queue];
        ++q.stats.accepted;
        ++oq.stats.coalesced;
        r.status = push_status::coalesced;
        r.queue = old.queue;
        // The old message goes back to the caller with its payload; its key is the new one's.
        message replaced;
        replaced.kind = old.kind;
        replaced.key = std::move(m.key);
        replaced.coalesce = old.coalesce;
        replaced.payload = std::exchange(old.payload, std::move(m.payload));
        replaced.accept_seq = old.accept_seq;
        replaced.arrival = old.arrival;
        replaced.deadline = old.deadline;
        replaced.queue = old.queue;
        r.dropped = std::move(replaced);
        return r;
      }
    }
  }

  const auto& qc = cfg_.queues[m.queue];
  if (q.stats.depth >= qc.capacity) {
    if (qc.overflow == overflow_policy::reject && a == admission::check) {
      ++q.stats.rejected;
      r.status = push_status::rejected;
      r.dropped = std::move(m);
      return r;
    }
    if (qc.overflow == overflow_policy::shed_oldest) {
      ++q.stats.accepted;
      ++q.stats.shed;
      r.status = push_status::shed;
      // Shed one per arrival: a capacity shrunk by a reload drops nothing at once.
      if (q.by_age.empty() || *q.by_age.begin() > m.accept_seq) {
        r.dropped = std::move(m);
        return r;
      }
      r.dropped = remove_queued(*q.by_age.begin());
      insert(std::move(m));
      return r;
    }
  }
  ++q.stats.accepted;
  insert(std::move(m));
  return r;
}

void scheduler::insert(message m) {
  const std::uint64_t seq = m.accept_seq;
  auto& q = qs_[m.queue];
  auto& ks = keys_[m.key];
  // Sorted insert from the back: almost always an append. A message stamped earlier but
  // handed over later (another producer thread) still takes its place in accept order.
  auto pos = ks.pending.end();
  while (pos != ks.pending.begin() && *(pos - 1) > seq) --pos;
  const bool new_head = pos == ks.pending.begin();
  if (new_head && !ks.pending.empty() && !ks.running) {
    const auto& old_head = nodes_.at(ks.pending.front());
    qs_[old_head.queue].ready.erase({old_head.deadline, old_head.accept_seq});
  }
  ks.pending.insert(pos, seq);
  if (m.coalesce) {
    auto& slot = ks.coalesce_slot[static_cast<std::size_t>(m.kind)];
    if (slot == 0 || slot < seq) slot = seq;
  }
  q.by_age.insert(seq);
  ++q.stats.depth;
  const ready_entry entry{m.deadline, seq};
  nodes_.emplace(seq, std::move(m));
  if (new_head && !ks.running) q.ready.insert(entry);
}

void scheduler::make_head_ready(key_state& ks) {
  const auto& head = nodes_.at(ks.pending.front());
  qs_[head.queue].ready.insert({head.deadline, head.accept_seq});
}

message scheduler::remove_queued(std::uint64_t seq) {
  auto nit = nodes_.find(seq);
  auto& q = qs_[nit->second.queue];
  auto kit = keys_.find(nit->second.key);
  auto& ks = kit->second;
  const bool was_head = ks.pending.front() == seq;
  if (was_head && !ks.running) q.ready.erase({nit->second.deadline, seq});
  ks.pending.erase(std::find(ks.pending.begin(), ks.pending.end(), seq));
  auto& slot = ks.coalesce_slot[static_cast<std::size_t>(nit->second.kind)];
  if (slot == seq) slot = 0;
  q.by_age.erase(seq);
  --q.stats.depth;
  message m = std::move(nit->second);
  nodes_.erase(nit);
  if (!ks.running) {
    if (ks.pending.empty())
      keys_.erase(kit);
    else if (was_head)
      make_head_ready(ks);
  }
  return m;
}

std::optional<message> scheduler::next(policies::time_point now) {
  queue_state* best = nullptr;
  for (std::size_t i = 0; i < qs_.size(); ++i) {
    auto& q = qs_[i];
    if (q.ready.empty() || q.stats.in_flight >= cfg_.queues[i].workers) continue;
    if (!best || *q.ready.begin() < *best->ready.begin()) best = &q;
  }
  if (!best) return std::nullopt;
  const std::uint64_t seq = best->ready.begin()->second;
  best->ready.erase(best->ready.begin());
  auto nit = nodes_.find(seq);
  auto& ks = keys_.at(nit->second.key);
  ks.pending.pop_front();  // the ready entry is always its key's head
  ks.running = true;
  auto& slot = ks.coalesce_slot[static_cast<std::size_t>(nit->second.kind)];
  if (slot == seq) slot = 0;
  best->by_age.erase(seq);
  --best->stats.depth;
  ++best->stats.in_flight;
  ++best->stats.started;
  if (now > nit->second.deadline) ++best->stats.deadline_misses;
  message m = std::move(nit->second);
  nodes_.erase(nit);
  return m;
}

void scheduler::complete(std::size_t queue, const std::string& key) {
  if (queue < qs_.size()) {
    auto& st = qs_[queue].stats;
    if (st.in_flight > 0) --st.in_flight;
    ++st.completed;
  }
  auto kit = keys_.find(key);
  if (kit == keys_.end() || !kit->second.running) return;
  kit->second.running = false;
  if (kit->second.pending.empty())
    keys_.erase(kit);
  else
    make_head_ready(kit->second);
}

std::vector<message> scheduler::drop_all() {
  std::vector<std::uint64_t> seqs;
  seqs.reserve(nodes_.size());
  for (auto& [seq, m] : nodes_) seqs.push_back(seq);
  std::sort(seqs.begin(), seqs.end());
  std::vector<message> out;
  out.reserve(seqs.size());
  for (auto seq : seqs) out.push_back(remove_queued(seq));
  return out;
}

std::size_t scheduler::in_flight() const {
  std::size_t n = 0;
  for (auto& q : qs_) n += q.stats.in_flight;
  return n;
}

}  // namespace orch::queues
