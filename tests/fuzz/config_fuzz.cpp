// Any bytes as a config file: errors with positions, never a crash, a hang or an exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "probe/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  auto env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "SET") return std::string("10.0.0.1");
    if (name == "EMPTY") return std::string();
    return std::nullopt;
  };
  auto result = reachprobe::config::load_config_string(yaml, "fuzz.yaml", env);
  // The contract: a config exactly when there is no error, and every error has a message.
  if (result.config.has_value() == !result.errors.empty()) __builtin_trap();
  for (const auto& e : result.errors) {
    if (e.message.empty() || e.line < 0 || e.column < 0) __builtin_trap();
  }
  // The pre-read that decides whether IMDS is asked sees the same bytes first: it must
  // not crash or throw either.
  static_cast<void>(reachprobe::config::asks_for_imds(yaml));
  return 0;
}
