#pragma once

#include <cstddef>
#include <string>

namespace reachprobe::config {

// A config read from disk, or why it could not be: `problem` is a whole message for
// `PATH:0:0: ...` ("is a directory, not a config file", "is empty (0 bytes)", ...), so
// validate, check and run say what the path is instead of parsing nothing as YAML.
struct ConfigFileText {
  std::string text;
  std::string problem;  // empty when `text` is the file's contents
};

// The most a config may be: 10,000 targets are some 2 MB of YAML; this stops a path such
// as /dev/zero from filling memory.
inline constexpr std::size_t kMaxConfigBytes = 64u << 20;

// Reads `path` whole. A regular file, FIFO or character device is read (process
// substitution and /dev/stdin work); a directory, socket or block device is refused, and so
// is a file of 0 bytes. Never throws.
ConfigFileText read_config_file(const std::string& path);

}  // namespace reachprobe::config
