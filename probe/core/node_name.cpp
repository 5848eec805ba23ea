#include "probe/core/node_name.hpp"

#include <unistd.h>

#include <array>
#include <cstdlib>

namespace reachprobe {

std::string this_node_name() {
  if (const char* from_env = std::getenv("NODE_NAME"); from_env != nullptr && *from_env != 0) {
    return from_env;
  }
  std::array<char, 256> host{};
  if (gethostname(host.data(), host.size() - 1) == 0 && host[0] != 0) return host.data();
  return "unknown";
}

}  // namespace reachprobe
