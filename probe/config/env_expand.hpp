#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "probe/config/config.hpp"

namespace reachprobe::config {

struct ExpandResult {
  std::string value;
  std::string error;             // non-empty on failure, e.g. "environment variable FOO is not set"
  std::size_t error_offset = 0;  // byte offset into the input of the failing ${...}
};

// Expands ${VAR} and ${VAR:-default} in `text`; `$$` is a literal `$`.
ExpandResult expand_env(std::string_view text, const EnvLookup& env);

}  // namespace reachprobe::config
