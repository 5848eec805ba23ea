#include "tests/support/build_paths.hpp"

#include <cstdlib>

// The paths arrive as compile definitions of this file alone: they differ between work trees,
// and a definition in a test file would make ccache miss that file in every fresh clone.
namespace reachprobe::test {

const std::string& reachprobe_binary() {
  static const std::string path = [] {
    const char* chosen = std::getenv("REACHPROBE_TEST_BINARY");
    return std::string(chosen != nullptr && *chosen != '\0' ? chosen : REACHPROBE_BINARY);
  }();
  return path;
}

const std::string& source_dir() {
  static const std::string path = REACHPROBE_SOURCE_DIR;
  return path;
}

}  // namespace reachprobe::test
