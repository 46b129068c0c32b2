// snapshot_pool: the free list of parsed snapshots the snapshot route refills in place.
#include "daemon/snapshot_pool.hpp"

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "daemon/snapshot_reader.hpp"

namespace orch::daemon {

// The free list, shared by the pool and the deleters of the snapshots it handed out.
class snapshot_pool::shelf {
 public:
  explicit shelf(std::size_t keep) : keep_(keep) { spare_.reserve(keep); }

  // From the thread that dropped the last reference. `bytes`: heap_bytes(*s) as measured
  // right after the fill, or unknown (then measured here, before the lock).
  void put(workers::snapshot* s, std::size_t bytes) {
    std::unique_ptr<workers::snapshot> owned(s);  // deleted after the unlock when not kept
    const bool small = (bytes == unknown_bytes ? heap_bytes(*s) : bytes) <= max_kept_bytes;
    std::lock_guard lk(mu_);
    if (small && spare_.size() < keep_) {
      spare_.push_back(std::move(owned));
      return;
    }
    ++counts_.deleted;
  }

  std::unique_ptr<workers::snapshot> take() {
    std::lock_guard lk(mu_);
    if (spare_.empty()) {
      ++counts_.made;
      return nullptr;
    }
    ++counts_.reused;
    auto s = std::move(spare_.back());
    spare_.pop_back();
    return s;
  }

  counts stats() const {
    std::lock_guard lk(mu_);
    counts c = counts_;
    c.kept = spare_.size();
    return c;
  }

 private:
  const std::size_t keep_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<workers::snapshot>> spare_;
  counts counts_;
};

// The deleter of the snapshots handed out: back to the shelf, with the size measured after the
// fill. Measuring there, where the reader just wrote the snapshot, costs a fraction of a walk
// over it on the thread that drops it, where it is out of cache (~1.5 % of the daemon's CPU).
struct snapshot_pool::returner {
  std::shared_ptr<shelf> to;
  std::size_t bytes = unknown_bytes;
  void operator()(workers::snapshot* p) const { to->put(p, bytes); }
};

snapshot_pool::snapshot_pool(std::size_t keep) : shelf_(std::make_shared<shelf>(keep)) {}

std::shared_ptr<workers::snapshot> snapshot_pool::take() {
  auto s = shelf_->take();
  if (!s) s = std::make_unique<workers::snapshot>();
  return {s.release(), returner{shelf_}};
}

parsed<std::shared_ptr<workers::snapshot>> snapshot_pool::parse(std::string_view body, std::string_view header_game_id,
                                                                std::size_t readable_after) {
  auto s = take();
  // The fast path overwrites every field on success; on failure `s` goes back to the pool half
  // filled, which the next fill overwrites all the same.
  if (read_snapshot_fast(body, header_game_id, *s, readable_after)) {
    std::get_deleter<returner>(s)->bytes = heap_bytes(*s);  // not changed after: workers read it const
    return s;
  }
  auto p = parse_snapshot_reference(body, header_game_id);
  if (auto* e = std::get_if<codec_error>(&p)) return std::move(*e);
  *s = std::move(std::get<workers::snapshot>(p));
  std::get_deleter<returner>(s)->bytes = heap_bytes(*s);
  return s;
}

snapshot_pool::counts snapshot_pool::stats() const { return shelf_->stats(); }

std::size_t snapshot_pool::heap_bytes(const workers::snapshot& s) {
  static const std::size_t small = std::string().capacity();  // the small-string buffer
  auto str = [](const std::string& x) { return x.capacity() > small ? x.capacity() + 1 : 0; };
  auto opt = [&](const std::optional<std::string>& x) { return x ? str(*x) : 0; };
  std::size_t n = str(s.game_id) + s.clusters.capacity() * sizeof(workers::game_cluster) +
                  s.entities.capacity() * sizeof(workers::snapshot_entity);
  for (const auto& c : s.clusters) {
    n += c.members.capacity() * sizeof(std::string);
    for (const auto& m : c.members) n += str(m);
  }
  for (const auto& e : s.entities) {
    n += str(e.name) + opt(e.location) + opt(e.kind) + opt(e.id) + opt(e.appearance);
    if (e.health) n += opt(e.health->state);
  }
  return n;
}

}  // namespace orch::daemon
