// ${VAR} / ${VAR:-default} expansion of any text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "probe/config/env_expand.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto env = [](std::string_view name) -> std::optional<std::string> {
    if (name.size() == 1) return std::string(name) + std::string(name);
    return std::nullopt;
  };
  auto r = reachprobe::config::expand_env(text, env);
  if (!r.error.empty() && r.error_offset > text.size()) __builtin_trap();
  // Text without '$' comes back as it was.
  if (text.find('$') == std::string_view::npos && (r.value != text || !r.error.empty())) {
    __builtin_trap();
  }
  return 0;
}
