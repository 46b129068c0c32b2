#pragma once
// io_threads: an io_context run by n threads, as in the daemon, for integration tests that
// drive a Letta client directly. Kept alive by a work guard; the destructor stops the context
// and joins the threads.
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace orch::testing {

struct io_threads {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};
  std::vector<std::thread> threads;
  explicit io_threads(int n) {
    for (int i = 0; i < n; ++i) threads.emplace_back([this] { io.run(); });
  }
  ~io_threads() {
    guard.reset();
    io.stop();
    for (auto& t : threads) t.join();
  }
};

}  // namespace orch::testing
