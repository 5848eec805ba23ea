#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "probe/core/target.hpp"

namespace reachprobe::config {

struct DnsSettings {
  std::vector<std::string> servers;  // "IP", "IP:PORT" or "[IPv6]:PORT"; empty: /etc/resolv.conf
};

struct KubernetesSettings {
  std::string api_server;  // default from KUBERNETES_SERVICE_HOST/_PORT
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespace_name;
  std::string pod_name;
  // This pod's IP (the node's, with host networking): the endpoint label of inbound and
  // kubelet probes. Default: $POD_IP; empty leaves the label ":PORT".
  std::string pod_ip;
};

struct AwsSettings {
  // Read this node's facts (region, zone, subnet, security groups) from the EC2 instance
  // metadata service (IMDSv2): ${AWS_REGION} falls back to its region, hints and
  // `check --remediation` name the security-group ids, reachprobe_node_info is exported.
  bool imds = false;
};

struct Config {
  std::chrono::nanoseconds interval = std::chrono::seconds(10);
  std::chrono::nanoseconds timeout = std::chrono::seconds(2);
  std::string listen = "0.0.0.0:9754";
  // Probes running at once; a slot that comes when this many run is skipped and counted.
  // 0: chosen at start from the open-file limit (every probe in flight holds a socket).
  std::size_t max_concurrent_probes = 0;
  // Where this process probes from: the `vantage` label of every series (SPEC.md).
  Vantage vantage = Vantage::Node;
  DnsSettings dns;
  KubernetesSettings kubernetes;
  AwsSettings aws;
  std::vector<Target> targets;
};

// A problem in a config, reported as `PATH:LINE:COLUMN: message` (1-based).
struct ConfigError {
  std::string path;
  int line = 0;
  int column = 0;
  std::string message;

  std::string to_string() const;
};

// Looks up an environment variable; injectable so tests never depend on the real one.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup system_env();

struct LoadResult {
  std::optional<Config> config;     // set if and only if errors is empty
  std::vector<ConfigError> errors;  // every problem found, in file order
};

// Never throw: every problem, a YAML syntax error or an unreadable file included, is an entry
// of `errors`. An unreadable file is reported at line 0, column 0.
LoadResult load_config_file(const std::string& path, const EnvLookup& env = system_env());
LoadResult load_config_string(std::string_view yaml, const std::string& path,
                              const EnvLookup& env = system_env());

// Whether the YAML asks for `aws: {imds: true}`, read before the config is loaded (IMDS
// gives ${AWS_REGION} its fallback, so it is asked before variables are expanded). Anything
// unreadable is false; the loader reports it.
bool asks_for_imds(std::string_view yaml);

// Why `text` is not a usable listen address ("IP:PORT", IPv6 as "[::]:9754"), or nullopt
// if it is. The loader checks `listen` with it; `--listen` should be checked the same way.
std::optional<std::string> listen_address_problem(std::string_view text);

}  // namespace reachprobe::config
