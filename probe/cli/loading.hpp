#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "probe/aws/node_facts.hpp"
#include "probe/config/config.hpp"
#include "probe/dns/resolver.hpp"
#include "probe/probers/kubernetes.hpp"

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

// This node's IMDS facts, asked only for a config with `aws: {imds: true}`; null if none.
using NodeFactsSource = std::function<const aws::NodeFacts*()>;

// Loads and validates `path` (empty: the built-in config/local.yaml). For a config that
// asks for IMDS, ${AWS_REGION} is the environment's, else the IMDS region (from `facts`);
// the same for ${AWS_ACCOUNT_ID} and the account.
LoadOutcome load_config(const std::string& path, const NodeFactsSource& facts = {});

// The environment, with AWS_REGION and AWS_ACCOUNT_ID falling back to `facts`' region and
// account when they are unset.
config::EnvLookup env_with_imds_region(const aws::NodeFacts* facts);

// The c-ares settings for a config: its servers, and a retry policy that fits its timeouts.
dns::ResolverOptions resolver_options(const config::Config& config);

// How inbound and kubelet probes reach the API server, from the config's `kubernetes`.
KubernetesApi kubernetes_api(const config::Config& config);

}  // namespace reachprobe::cli
