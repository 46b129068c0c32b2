// fake-letta's command line (CLI11): generated help, named errors with exit 2, and the daemon's
// validated registry loader behind --world. The real binary, 127.0.0.1 only.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/integration/process.hpp"

namespace {

const std::string fake_letta = ORCH_FAKE_LETTA_PATH;

bool has_line_with(const std::vector<std::string>& lines, const std::string& part) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(part) != std::string::npos; });
}

}  // namespace

TEST_CASE("fake-letta command line: generated help, bad options and an invalid --world exit 2") {
  REQUIRE(std::filesystem::exists(fake_letta));
  {
    orch::testing::child_process run({fake_letta, "--help"});
    const int status = run.wait_exit(std::chrono::seconds(20));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    const auto lines = run.lines();
    for (const char* flag : {"--listen", "--latency-ms", "--agents", "--world", "--token", "Exit codes"})
      CHECK_MESSAGE(has_line_with(lines, flag), flag);
  }
  const std::string bad_world = (std::filesystem::temp_directory_path() / "fake_letta_cli_bad_world.yaml").string();
  {
    std::ofstream f(bad_world);
    f << "npcs:\n  - {id: npc-a, display_name: A, description: x, agent_id: not-an-agent}\nlocations: []\n";
  }
  const std::string world = std::string(ORCH_SOURCE_DIR) + "/etc/world.yaml";
  for (const auto& bad :
       std::vector<std::vector<std::string>>{{fake_letta, "--no-such-option"},
                                             {fake_letta, "--latency-ms", "soon"},
                                             {fake_letta, "--latency-ms", "-1"},
                                             {fake_letta, "--listen", "no-port-here"},
                                             {fake_letta, "--world", "/no/such/world.yaml"},
                                             {fake_letta, "--world", world, "--agents", "a,b"},  // one or the other
                                             {fake_letta, "--world", bad_world}}) {
    orch::testing::child_process run(bad);
    const int status = run.wait_exit(std::chrono::seconds(20));
    REQUIRE(WIFEXITED(status));
    CHECK_MESSAGE(WEXITSTATUS(status) == 2, bad[1]);
  }
  std::filesystem::remove(bad_world);
  // The good forms still start and announce their port.
  for (const auto& good : std::vector<std::vector<std::string>>{
           {fake_letta, "--listen", "127.0.0.1:0", "--latency-ms", "5", "--world", world, "--token", "t"},
           {fake_letta, "--listen", "127.0.0.1:0", "--agents", "agent-a,agent-b"}}) {
    orch::testing::child_process run(good);
    CHECK(run.wait_for_port() > 0);
    const int status = run.stop(std::chrono::seconds(5), true);  // TSan may hold the first SIGTERM
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}
