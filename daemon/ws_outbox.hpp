#pragma once
// ws_outbox: the outbound frame queue of one WebSocket session, with the rules that keep it
// safe and bounded and no I/O of its own, so that every order of events can be tested.
// The frame at the front is referenced by the async_write in flight: it is released only
// once that write has completed or failed, whatever order the completion and a cut-off come
// in (releasing it under the write crashed the daemon, issue 9). The queue never pops when
// empty.
//
// Bounded: at most `max_frames` frames queued; a push past that is refused with `overflow`
// and the session cuts the client off. Ownership: a member of ws_session. Thread-safety:
// none; the session calls it on its strand only. Never throws but for std::bad_alloc.
#include <cstddef>
#include <deque>
#include <memory>
#include <string>

namespace orch::daemon {

class ws_outbox {
 public:
  using frame = std::shared_ptr<const std::string>;
  enum class push_result {
    queued,       // behind the write in flight
    start_write,  // the queue was idle: write front() now
    overflow,     // the bound is reached: nothing queued, cut the client off
    closed,       // cut off earlier: nothing queued
  };

  explicit ws_outbox(std::size_t max_frames) : max_frames_(max_frames == 0 ? 1 : max_frames) {}

  push_result push(frame f) {
    if (closed_) return push_result::closed;
    if (frames_.size() >= max_frames_) return push_result::overflow;
    frames_.push_back(std::move(f));
    if (writing_) return push_result::queued;
    writing_ = true;
    return push_result::start_write;
  }

  // The frame to write; valid until the matching write_done().
  const std::string& front() const { return *frames_.front(); }

  // The write of front() has finished (ok = without error). Releases that frame; returns true
  // when the caller should write front() next.
  bool write_done(bool ok) {
    writing_ = false;
    if (!ok) closed_ = true;
    if (closed_) {
      frames_.clear();  // the write no longer refers to anything
      return false;
    }
    if (!frames_.empty()) frames_.pop_front();
    if (frames_.empty()) return false;
    writing_ = true;
    return true;
  }

  // Cut-off: accepts nothing more. Frames no write refers to are released now; the one a
  // write in flight refers to stays until write_done().
  void close() {
    closed_ = true;
    if (writing_) {
      frames_.erase(frames_.begin() + 1, frames_.end());
    } else {
      frames_.clear();
    }
  }

  bool writing() const { return writing_; }
  bool closed() const { return closed_; }
  std::size_t size() const { return frames_.size(); }
  std::size_t max_frames() const { return max_frames_; }

 private:
  std::size_t max_frames_;
  std::deque<frame> frames_;  // front = being written while writing_
  bool writing_ = false;
  bool closed_ = false;
};

}  // namespace orch::daemon
