// ws_outbox: the outbound queue of a WebSocket session (issue 9). Every order of "a write
// completes" and "the client is cut off" is driven by hand here: the frame a write in flight
// refers to stays alive until that write has finished, nothing pops an empty queue, and
// every frame is released in the end (weak_ptrs observe the frames, so a leak shows).
#include <doctest/doctest.h>

#include <vector>

#include "daemon/ws_outbox.hpp"

using orch::daemon::ws_outbox;
using push = ws_outbox::push_result;

namespace {

struct frames {
  std::vector<std::weak_ptr<const std::string>> seen;
  ws_outbox::frame make(const std::string& text) {
    auto f = std::make_shared<const std::string>(text);
    seen.push_back(f);
    return f;
  }
  std::size_t alive() const {
    std::size_t n = 0;
    for (auto& w : seen) n += !w.expired();
    return n;
  }
};

}  // namespace

TEST_CASE("ws_outbox: one write at a time, in order, each frame released after its write") {
  frames f;
  ws_outbox box(8);
  CHECK(box.push(f.make("a")) == push::start_write);
  CHECK(box.push(f.make("b")) == push::queued);
  CHECK(box.push(f.make("c")) == push::queued);
  CHECK(box.front() == "a");
  CHECK(box.write_done(true));
  CHECK(f.seen[0].expired());
  CHECK(box.front() == "b");
  CHECK(box.write_done(true));
  CHECK(box.front() == "c");
  CHECK_FALSE(box.write_done(true));  // idle again
  CHECK_FALSE(box.writing());
  CHECK(f.alive() == 0);
  CHECK(box.push(f.make("d")) == push::start_write);  // an idle queue starts a write at once
}

TEST_CASE("ws_outbox: the bound refuses the push past it") {
  frames f;
  ws_outbox box(3);
  CHECK(box.push(f.make("1")) == push::start_write);
  CHECK(box.push(f.make("2")) == push::queued);
  CHECK(box.push(f.make("3")) == push::queued);
  CHECK(box.push(f.make("4")) == push::overflow);
  CHECK(box.size() == 3);
  CHECK(f.seen[3].expired());  // the refused frame was not kept
}

TEST_CASE("ws_outbox: cut-off while a write is in flight keeps its frame until the write completes") {
  frames f;
  ws_outbox box(4);
  REQUIRE(box.push(f.make("in-flight")) == push::start_write);
  const std::string* written = &box.front();  // what async_write refers to
  for (int i = 0; i < 3; ++i) box.push(f.make("queued"));
  CHECK(box.push(f.make("over")) == push::overflow);
  box.close();
  // The frames nobody refers to are gone; the one being written is not.
  CHECK(f.alive() == 1);
  CHECK_FALSE(f.seen[0].expired());
  CHECK(*written == "in-flight");
  CHECK(box.push(f.make("late")) == push::closed);
  // The write then completes, successfully (Asio writes speculatively at initiation) ...
  CHECK_FALSE(box.write_done(true));
  CHECK(box.size() == 0);
  CHECK(f.alive() == 0);
  // ... and a second completion report finds nothing to pop.
  CHECK_FALSE(box.write_done(true));
  CHECK(box.size() == 0);
}

TEST_CASE("ws_outbox: cut-off while a write is in flight, the write then fails") {
  frames f;
  ws_outbox box(4);
  REQUIRE(box.push(f.make("a")) == push::start_write);
  box.push(f.make("b"));
  box.close();
  CHECK(f.alive() == 1);
  CHECK_FALSE(box.write_done(false));
  CHECK(f.alive() == 0);
}

TEST_CASE("ws_outbox: the write completes first, then the cut-off comes") {
  frames f;
  ws_outbox box(4);
  REQUIRE(box.push(f.make("a")) == push::start_write);
  box.push(f.make("b"));
  CHECK(box.write_done(true));  // "b" is now being written
  CHECK(box.front() == "b");
  box.close();
  CHECK(f.alive() == 1);  // "b" stays for its write
  CHECK_FALSE(box.write_done(true));
  CHECK(f.alive() == 0);
  // Idle and closed: a cut-off with no write in flight releases everything at once.
  ws_outbox idle(4);
  REQUIRE(idle.push(f.make("x")) == push::start_write);
  CHECK_FALSE(idle.write_done(true));
  idle.close();
  CHECK(idle.size() == 0);
  CHECK(idle.push(f.make("y")) == push::closed);
  CHECK(f.alive() == 0);
}

TEST_CASE("ws_outbox: a failed write closes the queue and releases all of it") {
  frames f;
  ws_outbox box(4);
  REQUIRE(box.push(f.make("a")) == push::start_write);
  box.push(f.make("b"));
  box.push(f.make("c"));
  CHECK_FALSE(box.write_done(false));
  CHECK(box.closed());
  CHECK(f.alive() == 0);
  CHECK(box.push(f.make("d")) == push::closed);
}
