#pragma once
// Suppresses the same text from the same speaker twice within a short window (1 s by
// default): the seeds' "echo in first interaction" (003, known issue 3).
//
// Ownership: a plain value owned by its user. Thread-safety: none (the owner locks).
// Failure: none. Memory: one hash and time per speaker; prune() drops old ones.
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

#include "policies/clock.hpp"

namespace orch::policies {

class echo_filter {
 public:
  explicit echo_filter(duration window = std::chrono::seconds(1)) : window_(window) {}

  // True when `speaker` said exactly `text` less than `window` before `now` (an echo, to be
  // suppressed). A text that passes becomes the speaker's reference; an echo does not reset it.
  bool is_echo(const std::string& speaker, std::string_view text, time_point now);
  void prune(time_point now);
  std::size_t size() const { return last_.size(); }

 private:
  struct entry {
    std::size_t hash = 0;
    std::size_t length = 0;
    time_point at{};
  };
  duration window_;
  std::unordered_map<std::string, entry> last_;
};

}  // namespace orch::policies
