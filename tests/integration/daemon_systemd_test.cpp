// Integration: the daemon speaks systemd's notify protocol (Type=notify): READY=1 once it
// listens, WATCHDOG=1 pings when WATCHDOG_USEC is set, RELOADING=1 on SIGHUP, STOPPING=1 on
// SIGTERM. The test plays systemd with a datagram socket of its own.
#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdlib>
#include <thread>

#include "tests/integration/http_client.hpp"

using namespace orch::testing;

namespace {

class notify_socket {
 public:
  notify_socket() {
    path_ = "/tmp/npcorch-notify-" + std::to_string(::getpid());
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    timeval tv{0, 200000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~notify_socket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  // Collects datagrams until one contains `what` or the time is up.
  bool wait_for(const std::string& what, std::chrono::seconds limit = std::chrono::seconds(15)) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      char buf[512];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) seen_.append(buf, static_cast<std::size_t>(n)).push_back('\n');
      if (seen_.find(what) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::string path_;
  std::string seen_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE("systemd notify: READY then WATCHDOG pings then RELOADING and STOPPING") {
  notify_socket sock;
  ::setenv("NOTIFY_SOCKET", sock.path().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "400000", 1);  // ping every 200 ms
  ::unsetenv("WATCHDOG_PID");
  daemon_under_test d;
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  REQUIRE(d.port() > 0);
  CHECK(sock.wait_for("READY=1"));
  CHECK(sock.wait_for("WATCHDOG=1"));
  ::kill(d.proc().pid(), SIGHUP);
  CHECK(sock.wait_for("RELOADING=1"));
  CHECK(d.stop() == 0);
  CHECK(sock.wait_for("STOPPING=1"));
}
