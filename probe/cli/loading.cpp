#include "probe/cli/loading.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "probe/config/config_file.hpp"
#include "probe/probers/prober_set.hpp"
#include "reachprobe/embedded_config.hpp"

namespace reachprobe::cli {

config::EnvLookup env_with_imds_region(const aws::NodeFacts* facts) {
  return [facts, env = config::system_env()](std::string_view name) -> std::optional<std::string> {
    auto value = env(name);
    if (value || facts == nullptr) return value;
    if (name == "AWS_REGION" && !facts->region.empty()) return facts->region;
    if (name == "AWS_ACCOUNT_ID" && !facts->account_id.empty()) return facts->account_id;
    return value;
  };
}

LoadOutcome load_config(const std::string& path, const NodeFactsSource& facts) {
  LoadOutcome out;
  std::string text;
  std::string name = path;
  if (path.empty()) {
    text = kEmbeddedLocalConfig;
    name = "<built-in config/local.yaml>";
  } else {
    auto file = config::read_config_file(path);
    if (!file.problem.empty()) {
      out.errors.push_back({path, 0, 0, std::move(file.problem)});
      return out;
    }
    text = std::move(file.text);
  }
  const aws::NodeFacts* node = facts && config::asks_for_imds(text) ? facts() : nullptr;
  config::LoadResult loaded = config::load_config_string(text, name, env_with_imds_region(node));
  out.errors = std::move(loaded.errors);
  if (!out.errors.empty() || !loaded.config) return out;
  LoadedConfig result;
  result.config = std::move(*loaded.config);
  result.text = std::move(text);
  for (const auto& t : result.config.targets) result.targets.push_back(std::make_shared<Target>(t));
  out.loaded = std::move(result);
  return out;
}

dns::ResolverOptions resolver_options(const config::Config& c) {
  dns::ResolverOptions o;
  o.servers = c.dns.servers;
  // c-ares 1.18 ignores resolv.conf's timeout/attempts and waits 5 s per try: a lost UDP
  // reply would then never be retried inside a probe's deadline. First retry after a third
  // of the shortest timeout (c-ares doubles the wait each round); the deadline bounds all.
  auto shortest = c.timeout;
  for (const auto& t : c.targets) shortest = std::min(shortest, t.timeout);
  auto third = std::chrono::duration_cast<std::chrono::milliseconds>(shortest / 3);
  o.attempt_timeout =
      std::clamp(third, std::chrono::milliseconds(200), std::chrono::milliseconds(2000));
  o.attempts = 3;
  return o;
}

KubernetesApi kubernetes_api(const config::Config& c) {
  return KubernetesApi{c.kubernetes.api_server, c.kubernetes.token_file, c.kubernetes.ca_file,
                       c.kubernetes.namespace_name, c.kubernetes.pod_name};
}

}  // namespace reachprobe::cli
