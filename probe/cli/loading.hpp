#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "probe/config/config.hpp"
#include "probe/dns/resolver.hpp"

namespace reachprobe::cli {

struct LoadedConfig {
  config::Config config;
  std::vector<std::shared_ptr<const Target>> targets;
  std::string text;  // the bytes it was loaded from, to tell a real change from a touch
};

struct LoadOutcome {
  std::optional<LoadedConfig> loaded;
  std::vector<config::ConfigError> errors;
};

// Loads and validates `path` (empty: the built-in config/local.yaml), then checks what only
// the engine knows when `check_support`: that this build has a prober for every type used.
LoadOutcome load_config(const std::string& path, bool check_support);

// The c-ares settings for a config: its servers, and a retry policy that fits its timeouts.
dns::ResolverOptions resolver_options(const config::Config& config);

}  // namespace reachprobe::cli
