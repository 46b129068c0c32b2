#pragma once
// Clusterers shared by the games of one snapshot worker. A policies::clusterer is scratch only
// (nothing of one run is read by the next) and holds ~15 KB once warm, most of it the radix
// histogram; a game takes one for its clustering and gives it back, so there are as many as
// applies ran at once (the io threads), not one per game.
//
// Ownership: shared by the snapshot worker and its game_states (shared_ptr). Thread-safety:
// take() and put() from any thread (locked; once per clustering apply). How it fails: it
// does not; take() makes a clusterer when none is free.
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "policies/clustering.hpp"

namespace orch::workers {

class clusterer_pool {
 public:
  std::unique_ptr<policies::clusterer> take() {
    {
      std::lock_guard lk(mu_);
      if (!free_.empty()) {
        auto c = std::move(free_.back());
        free_.pop_back();
        return c;
      }
    }
    return std::make_unique<policies::clusterer>();
  }
  void put(std::unique_ptr<policies::clusterer> c) {
    std::lock_guard lk(mu_);
    free_.push_back(std::move(c));
  }
  std::size_t idle() const {  // clusterers made and not taken now (tests)
    std::lock_guard lk(mu_);
    return free_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<policies::clusterer>> free_;
};

}  // namespace orch::workers
