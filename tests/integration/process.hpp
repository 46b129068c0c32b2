#pragma once
// child_process: starts a program for an integration test (the daemon, fake-letta), reads its
// stdout line by line on a background thread (so the child never blocks on a full pipe), waits
// for a line such as "listening on HOST:PORT" with a timeout, and stops it (SIGTERM, then
// SIGKILL after a grace period). The destructor stops the child if the test did not.
// Thread-safety: use from one test thread; the reader thread only appends lines under a mutex.
// Fails by throwing std::runtime_error when the program cannot be started.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include <vector>
#include "tests/eventually.hpp"

extern char** environ;

namespace orch::testing {

class child_process {
 public:
  explicit child_process(std::vector<std::string> argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    }
    fd_ = fds[0];
    reader_ = std::thread([this] { read_loop(); });
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() { stop(); }

  pid_t pid() const { return pid_; }

  // The rest of the first line that starts with `prefix`, waiting up to `timeout`.
  std::optional<std::string> wait_for_line(const std::string& prefix, std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    std::optional<std::string> found;
    cv_.wait_for(lk, timeout, [&] {
      for (const auto& l : lines_)
        if (l.rfind(prefix, 0) == 0) {
          found = l.substr(prefix.size());
          return true;
        }
      return eof_;
    });
    return found;
  }
  // The port of a "listening on HOST:PORT" line, or 0 on timeout.
  int wait_for_port(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto rest = wait_for_line("listening on ", timeout);
    if (!rest) return 0;
    const auto colon = rest->rfind(':');
    return colon == std::string::npos ? 0 : std::atoi(rest->c_str() + colon + 1);
  }
  std::vector<std::string> lines() {
    std::lock_guard lk(mu_);
    return lines_;
  }

  // Waits up to `timeout` for the child to exit by itself; its status, or -1 if it did not.
  int wait_exit(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return -1;
    int status = 0;
    if (!eventually([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout)) return -1;
    pid_ = -1;
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    return status;
  }

  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status (as from waitpid), or
  // -1 when already stopped. With `repeat_term` the SIGTERM is sent again each second of the
  // grace, for an idle single-threaded child such as fake-letta: under ThreadSanitizer a signal
  // that lands just before it blocks in epoll_wait is held by the sanitizer until its next
  // intercepted call, which it never makes; a second one, arriving while it blocks, is delivered
  // at once. Not for the daemon: a repeat that lands after its signal set is gone (while it
  // exits) would kill it.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5), bool repeat_term = false) {
    if (pid_ <= 0) return -1;
    int status = 0;
    auto reaped = [&] {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      return r == pid_ || (r < 0 && errno != EINTR);
    };
    ::kill(pid_, SIGTERM);
    bool exited = false;
    for (auto left = grace; !exited && left.count() > 0; left -= std::chrono::seconds(1)) {
      if (left != grace && repeat_term) ::kill(pid_, SIGTERM);
      exited = eventually(reaped, std::min<std::chrono::milliseconds>(left, std::chrono::seconds(1)));
    }
    if (!exited) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    return status;
  }

 private:
  void read_loop() {
    std::string partial;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      partial.append(buf, static_cast<std::size_t>(n));
      std::size_t nl;
      while ((nl = partial.find('\n')) != std::string::npos) {
        std::lock_guard lk(mu_);
        lines_.push_back(partial.substr(0, nl));
        partial.erase(0, nl + 1);
        cv_.notify_all();
      }
    }
    std::lock_guard lk(mu_);
    if (!partial.empty()) lines_.push_back(partial);
    eof_ = true;
    cv_.notify_all();
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool eof_ = false;
};

}  // namespace orch::testing
