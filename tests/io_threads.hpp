#pragma once
// io_threads: an io_context run by n threads, as in the daemon, for tests and benches that
// drive a client or the dispatcher across threads. Kept alive by a work guard until the end;
// then `stop` abandons the handlers still pending (a Letta client's long timers), `finish`
// lets the threads run until no work is left (the dispatcher's completions), and the threads
// are joined.
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace orch::testing {

struct io_threads {
  enum class at_end { stop, finish };
  explicit io_threads(int n, at_end end = at_end::stop) : end_(end) {
    for (int i = 0; i < n; ++i) threads.emplace_back([this] { io.run(); });
  }
  ~io_threads() {
    guard.reset();
    if (end_ == at_end::stop) io.stop();
    for (auto& t : threads) t.join();
  }
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};
  std::vector<std::thread> threads;

 private:
  at_end end_;
};

}  // namespace orch::testing
