#include "probe/config/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "probe/core/endpoint.hpp"

namespace reachprobe::config {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

using Vars = std::map<std::string, std::string>;

EnvLookup fake_env(Vars vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

LoadResult load(std::string_view yaml, Vars vars = {}) {
  return load_config_string(yaml, "c.yaml", fake_env(std::move(vars)));
}

std::vector<std::string> errors_of(const LoadResult& result) {
  std::vector<std::string> lines;
  for (const ConfigError& error : result.errors) lines.push_back(error.to_string());
  return lines;
}

// A valid config with `target` as its only target, so one test checks one thing.
std::string with_target(std::string_view target) { return "targets:\n" + std::string(target); }

const Target& only_target(const LoadResult& result) {
  EXPECT_TRUE(result.config.has_value()) << ::testing::PrintToString(errors_of(result));
  EXPECT_EQ(result.config->targets.size(), 1u);
  return result.config->targets.front();
}

constexpr std::string_view kSpecExample = R"(interval: 10s            # default for every target
timeout: 2s              # default per-probe timeout; must be < interval
listen: 0.0.0.0:9754     # HTTP server; --listen overrides
dns:
  servers: []            # "IP" or "IP:PORT"
targets:
  - name: control-plane  # unique; [a-zA-Z0-9_-]+
    type: tcp            # tcp | dns | tls | http | inbound | kubelet
    hosts: [10.0.0.10, api.example.internal]   # IPs or names
    ports: [443]                                # every host x every port
    labels: {group: control-plane}              # extra labels
    interval: 5s                                # optional per-target override
    timeout: 1s                                 # optional per-target override
    hint: "node security group must allow ..."  # optional
  - name: sts
    type: tls            # TCP connect then a TLS handshake (SNI = host)
    hosts: [sts.ap-southeast-1.amazonaws.com]
    ports: [443]
    # tls: {server_name: ..., ca_file: ..., insecure_skip_verify: false}
  - name: alertmanager-private-dns
    type: dns
    query: alertmanager-operated.monitoring.svc.cluster.local
    record: A            # A | AAAA | SRV | CNAME ...
    server: 10.100.0.10  # optional; overrides dns.servers for this target
    connect_port: 9093   # optional
  - name: apiserver-readyz
    type: http           # HTTP(S) request
    url: https://kubernetes.default.svc/readyz
    expect_status: [200] # default: any 2xx
    bearer_token_file: /var/run/secrets/kubernetes.io/serviceaccount/token
    tls: {ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt}
  - name: webhook-inbound
    type: inbound        # control plane -> this node
    ports: [9443]
    interval: 60s
    timeout: 35s
  - name: kubelet-inbound
    type: kubelet        # control plane -> this node's kubelet
kubernetes:              # for inbound/kubelet; defaults are the in-cluster values
  api_server: https://kubernetes.default.svc
  token_file: /var/run/secrets/kubernetes.io/serviceaccount/token
  ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
  namespace: ${POD_NAMESPACE}
  pod_name: ${POD_NAME}
)";

TEST(LoadConfig, SpecExampleLoadsWithItsValues) {
  auto result = load(kSpecExample, {{"POD_NAMESPACE", "monitoring"}, {"POD_NAME", "rp-x7k2q"}});
  ASSERT_THAT(errors_of(result), IsEmpty());
  ASSERT_TRUE(result.config.has_value());
  const Config& config = *result.config;
  EXPECT_EQ(config.interval, seconds(10));
  EXPECT_EQ(config.timeout, seconds(2));
  EXPECT_EQ(config.listen, "0.0.0.0:9754");
  EXPECT_THAT(config.dns.servers, IsEmpty());
  EXPECT_EQ(config.kubernetes.api_server, "https://kubernetes.default.svc");
  EXPECT_EQ(config.kubernetes.token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  EXPECT_EQ(config.kubernetes.ca_file, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
  EXPECT_EQ(config.kubernetes.namespace_name, "monitoring");
  EXPECT_EQ(config.kubernetes.pod_name, "rp-x7k2q");
  ASSERT_EQ(config.targets.size(), 6u);

  const Target& tcp = config.targets[0];
  EXPECT_EQ(tcp.name, "control-plane");
  EXPECT_EQ(tcp.type, ProbeType::Tcp);
  EXPECT_THAT(tcp.hosts, ElementsAre("10.0.0.10", "api.example.internal"));
  EXPECT_THAT(tcp.ports, ElementsAre(443));
  EXPECT_THAT(tcp.labels,
              ElementsAre(std::pair<std::string, std::string>("group", "control-plane")));
  EXPECT_EQ(tcp.interval, seconds(5));
  EXPECT_EQ(tcp.timeout, seconds(1));
  EXPECT_EQ(tcp.hint, "node security group must allow ...");
  EXPECT_EQ(tcp.position.path, "c.yaml");
  EXPECT_EQ(tcp.position.line, 7);
  EXPECT_EQ(tcp.position.column, 5);

  const Target& tls = config.targets[1];
  EXPECT_EQ(tls.type, ProbeType::Tls);
  EXPECT_THAT(tls.hosts, ElementsAre("sts.ap-southeast-1.amazonaws.com"));
  EXPECT_EQ(tls.interval, seconds(10));
  EXPECT_EQ(tls.timeout, seconds(2));
  EXPECT_FALSE(tls.tls.has_value());
  EXPECT_EQ(tls.position.line, 15);

  const Target& dns = config.targets[2];
  EXPECT_EQ(dns.type, ProbeType::Dns);
  EXPECT_EQ(dns.query, "alertmanager-operated.monitoring.svc.cluster.local");
  EXPECT_EQ(dns.record, "A");
  EXPECT_EQ(dns.server, "10.100.0.10");
  EXPECT_EQ(dns.connect_port, 9093);
  EXPECT_EQ(dns.max_connect, std::nullopt);

  const Target& http = config.targets[3];
  EXPECT_EQ(http.type, ProbeType::Http);
  EXPECT_EQ(http.url, "https://kubernetes.default.svc/readyz");
  EXPECT_EQ(http.method, "GET");
  EXPECT_THAT(http.expect_status, ElementsAre(200));
  EXPECT_EQ(http.bearer_token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  ASSERT_TRUE(http.tls.has_value());
  EXPECT_EQ(http.tls->ca_file, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
  EXPECT_EQ(http.tls->server_name, "");
  EXPECT_FALSE(http.tls->insecure_skip_verify);
  EXPECT_FALSE(http.follow_redirects);

  const Target& inbound = config.targets[4];
  EXPECT_EQ(inbound.type, ProbeType::Inbound);
  EXPECT_THAT(inbound.ports, ElementsAre(9443));
  EXPECT_EQ(inbound.interval, seconds(60));
  EXPECT_EQ(inbound.timeout, seconds(35));

  const Target& kubelet = config.targets[5];
  EXPECT_EQ(kubelet.type, ProbeType::Kubelet);
  EXPECT_EQ(kubelet.name, "kubelet-inbound");
  EXPECT_EQ(kubelet.position.line, 37);
}

TEST(LoadConfig, SpecExampleWithoutPodEnvironmentNamesTheUnsetVariables) {
  auto result = load(kSpecExample);
  EXPECT_THAT(errors_of(result),
              ElementsAre("c.yaml:43:14: 'namespace': environment variable POD_NAMESPACE is not "
                          "set (write ${POD_NAMESPACE:-default} for a default)",
                          "c.yaml:44:13: 'pod_name': environment variable POD_NAME is not set "
                          "(write ${POD_NAME:-default} for a default)"));
  EXPECT_FALSE(result.config.has_value());
}

TEST(LoadConfig, DefaultsFillTargetsAndLabelsAreSorted) {
  auto result = load(R"(
interval: 30s
timeout: 3s
targets:
  - name: a
    type: tcp
    hosts: ["::1", 127.0.0.1, localhost.]
    ports: [80, 8080]
    labels: {zone: a, app: b, Team_1: c}
  - name: b
    type: tcp
    hosts: [h]
    ports: [1]
    timeout: 29s
)");
  ASSERT_THAT(errors_of(result), IsEmpty());
  const Config& config = *result.config;
  EXPECT_EQ(config.listen, "0.0.0.0:9754");
  const Target& a = config.targets[0];
  EXPECT_EQ(a.interval, seconds(30));
  EXPECT_EQ(a.timeout, seconds(3));
  EXPECT_THAT(a.hosts, ElementsAre("::1", "127.0.0.1", "localhost."));
  EXPECT_THAT(a.ports, ElementsAre(80, 8080));
  EXPECT_THAT(a.labels, ElementsAre(std::pair<std::string, std::string>("Team_1", "c"),
                                    std::pair<std::string, std::string>("app", "b"),
                                    std::pair<std::string, std::string>("zone", "a")));
  EXPECT_EQ(a.position.line, 5);
  EXPECT_EQ(a.position.column, 5);
  EXPECT_EQ(config.targets[1].interval, seconds(30));
  EXPECT_EQ(config.targets[1].timeout, seconds(29));
}

TEST(LoadConfig, KubernetesDefaultsComeFromTheInjectedEnvironment) {
  const std::string yaml = with_target("  - {name: k, type: kubelet}\n");
  auto in_cluster = load(yaml, {{"KUBERNETES_SERVICE_HOST", "10.100.0.1"},
                                {"KUBERNETES_SERVICE_PORT", "443"},
                                {"POD_NAMESPACE", "ns"},
                                {"POD_NAME", "pod"}});
  ASSERT_THAT(errors_of(in_cluster), IsEmpty());
  EXPECT_EQ(in_cluster.config->kubernetes.api_server, "https://10.100.0.1:443");
  EXPECT_EQ(in_cluster.config->kubernetes.namespace_name, "ns");
  EXPECT_EQ(in_cluster.config->kubernetes.pod_name, "pod");

  auto ipv6 = load(yaml, {{"KUBERNETES_SERVICE_HOST", "fd00::1"},
                          {"KUBERNETES_SERVICE_PORT", "6443"},
                          {"POD_NAMESPACE", "ns"},
                          {"POD_NAME", "pod"}});
  ASSERT_THAT(errors_of(ipv6), IsEmpty());
  EXPECT_EQ(ipv6.config->kubernetes.api_server, "https://[fd00::1]:6443");

  auto outside = load(with_target("  - {name: t, type: tcp, hosts: [h], ports: [1]}\n"));
  ASSERT_THAT(errors_of(outside), IsEmpty());
  EXPECT_EQ(outside.config->kubernetes.api_server, "https://kubernetes.default.svc");
  EXPECT_EQ(outside.config->kubernetes.namespace_name, "");
  EXPECT_EQ(outside.config->kubernetes.pod_name, "");
}

TEST(LoadConfig, ThePodIpIsTheAddressOfInboundAndKubeletEndpoints) {
  const std::string yaml =
      with_target("  - {name: k, type: kubelet}\n  - {name: w, type: inbound, ports: [9443]}\n");
  auto from_env =
      load(yaml, {{"POD_NAMESPACE", "ns"}, {"POD_NAME", "pod"}, {"POD_IP", "10.0.1.5"}});
  ASSERT_THAT(errors_of(from_env), IsEmpty());
  EXPECT_EQ(from_env.config->kubernetes.pod_ip, "10.0.1.5");
  std::vector<std::shared_ptr<const Target>> targets;
  for (const auto& t : from_env.config->targets) targets.push_back(std::make_shared<Target>(t));
  auto endpoints = expand_endpoints(targets);
  ASSERT_EQ(endpoints.size(), 2u);
  EXPECT_EQ(endpoints[0].label, "10.0.1.5:10250");
  EXPECT_EQ(endpoints[1].label, "10.0.1.5:9443");

  auto unknown = load(yaml, {{"POD_NAMESPACE", "ns"}, {"POD_NAME", "pod"}});
  targets.clear();
  for (const auto& t : unknown.config->targets) targets.push_back(std::make_shared<Target>(t));
  EXPECT_EQ(expand_endpoints(targets)[1].label, ":9443");

  EXPECT_THAT(errors_of(load("kubernetes: {pod_ip: node-a}\n" + yaml,
                             {{"POD_NAMESPACE", "ns"}, {"POD_NAME", "pod"}})),
              ElementsAre("c.yaml:1:22: 'pod_ip' 'node-a' is not an IP address"));
}

TEST(LoadConfig, InboundAndKubeletTargetsNeedNamespaceAndPodName) {
  auto result = load(R"(targets:
  - {name: t, type: tcp, hosts: [h], ports: [1]}
  - name: webhook
    type: inbound
    ports: [9443]
  - name: k
    type: kubelet
)");
  EXPECT_THAT(
      errors_of(result),
      ElementsAre("c.yaml:3:5: inbound target 'webhook' needs kubernetes.namespace: set it or the "
                  "POD_NAMESPACE environment variable",
                  "c.yaml:3:5: inbound target 'webhook' needs kubernetes.pod_name: set it or the "
                  "POD_NAME environment variable"));

  auto explicit_empty = load(R"(targets:
  - {name: k, type: kubelet}
kubernetes:
  namespace: ${NS:-}
)",
                             {{"POD_NAME", "p"}});
  EXPECT_THAT(errors_of(explicit_empty),
              ElementsAre("c.yaml:4:14: kubelet target 'k' needs kubernetes.namespace: set it or "
                          "the POD_NAMESPACE environment variable"));
}

TEST(LoadConfig, EmptyConfigsAreErrors) {
  for (const char* yaml : {"", "\n\n", "# only a comment\n", "---\n", "~\n"}) {
    EXPECT_THAT(errors_of(load(yaml)),
                ElementsAre("c.yaml:1:1: the config is empty; it needs at least 'targets'"))
        << yaml;
  }
}

TEST(LoadConfig, ConfigWithoutTargetsIsAnError) {
  EXPECT_THAT(errors_of(load("# comment\ninterval: 10s\n")),
              ElementsAre("c.yaml:2:1: the config has no 'targets'"));
  EXPECT_THAT(errors_of(load("interval: 10s\ntargets: []\n")),
              ElementsAre("c.yaml:2:10: 'targets' must not be empty"));
  EXPECT_THAT(errors_of(load("interval: 10s\ntargets:\n")),
              ElementsAre("c.yaml:2:1: 'targets' must be a list, not empty"));
}

TEST(LoadConfig, YamlSyntaxErrorsCarryTheirPosition) {
  auto result = load("targets:\n  - name: [a\n    type: tcp\n");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].line, 3);
  EXPECT_EQ(result.errors[0].column, 9);
  EXPECT_THAT(result.errors[0].message, ::testing::StartsWith("YAML syntax error: "));

  auto bad_indent = load("targets:\n  - name: a\n   type: tcp\n");
  ASSERT_EQ(bad_indent.errors.size(), 1u);
  EXPECT_EQ(bad_indent.errors[0].line, 3);
  EXPECT_EQ(bad_indent.errors[0].column, 4);
  EXPECT_EQ(bad_indent.errors[0].message, "YAML syntax error: end of sequence not found");
}

TEST(LoadConfig, AnUnquotedVariableInAFlowListSaysToQuoteIt) {
  auto result = load(
      "targets:\n  - name: sts\n    type: tls\n    hosts: [sts.${AWS_REGION}.amazonaws.com]\n    "
      "ports: [443]\n",
      {{"AWS_REGION", "eu-west-1"}});
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].line, 4);
  EXPECT_THAT(
      result.errors[0].message,
      ::testing::EndsWith("(inside [ ] or { }, quote a value with a variable: \"${VAR}\")"));
  auto quoted = load(
      "targets:\n  - name: sts\n    type: tls\n    hosts: [\"sts.${AWS_REGION}.amazonaws.com\"]\n  "
      "  ports: [443]\n",
      {{"AWS_REGION", "eu-west-1"}});
  EXPECT_TRUE(quoted.errors.empty()) << quoted.errors[0].message;
}

TEST(LoadConfig, RootMustBeAMap) {
  EXPECT_THAT(errors_of(load("- a\n- b\n")),
              ElementsAre("c.yaml:1:1: the config must be a map with keys such as 'interval' and "
                          "'targets', not a list"));
  EXPECT_THAT(errors_of(load("just text\n")),
              ElementsAre("c.yaml:1:1: the config must be a map with keys such as 'interval' and "
                          "'targets', not a single value"));
}

TEST(LoadConfig, OnlyOneDocumentIsAllowed) {
  EXPECT_THAT(
      errors_of(load("targets:\n  - {name: k, type: tcp, hosts: [h], ports: [1]}\n---\na: 1\n")),
      ElementsAre("c.yaml:3:1: only one YAML document is allowed in a config"));
}

// Found by tests/fuzz/config_fuzz.cpp: yaml-cpp 0.7's LoadAll never returns on this, which
// would hang `validate` and freeze a daemon's reload.
TEST(LoadConfig, InputThatStallsYamlCppIsAnErrorNotAHang) {
  EXPECT_THAT(errors_of(load(",nterval: 10s\n")),
              ElementsAre("c.yaml:1:1: YAML syntax error: text that starts no document"));
}

TEST(LoadConfig, UnknownKeysAreErrorsWithSuggestions) {
  auto result = load(R"(intervall: 10s
listen: 0.0.0.0:9754
dns:
  server: [127.0.0.1]
kubernetes:
  namespce: x
  totally_unknown: y
targets:
  - name: a
    type: tcp
    hostz: [h]
    hosts: [h]
    ports: [1]
  - name: b
    type: tls
    hosts: [h]
    ports: [1]
    tls: {ca: /x, server_name: h}
  - name: c
    type: dns
    query: example.test
    expect: {min_answer: 1}
  - name: d
    type: http
    url: http://x/
    follow_redirect: true
)");
  EXPECT_THAT(
      errors_of(result),
      ElementsAre("c.yaml:1:1: unknown key 'intervall' in the config (did you mean 'interval'?)",
                  "c.yaml:4:3: unknown key 'server' in 'dns' (did you mean 'servers'?)",
                  "c.yaml:6:3: unknown key 'namespce' in 'kubernetes' (did you mean 'namespace'?)",
                  "c.yaml:7:3: unknown key 'totally_unknown' in 'kubernetes'",
                  "c.yaml:11:5: unknown key 'hostz' in a target (did you mean 'hosts'?)",
                  "c.yaml:18:11: unknown key 'ca' in 'tls'",
                  "c.yaml:22:14: unknown key 'min_answer' in 'expect' (did you mean "
                  "'min_answers'?)",
                  "c.yaml:26:5: unknown key 'follow_redirect' in a target (did you mean "
                  "'follow_redirects'?)"));
}

TEST(LoadConfig, KeysOfAnotherTypeAreRejected) {
  auto result = load(R"(targets:
  - name: a
    type: tcp
    hosts: [h]
    ports: [1]
    query: example.test
    tls: {}
  - name: b
    type: kubelet
    hosts: [h]
  - name: c
    type: inbound
    ports: [1]
    url: http://x/
  - name: d
    type: dns
    query: q.test
    ports: [53]
)",
                     {{"POD_NAMESPACE", "ns"}, {"POD_NAME", "p"}});
  EXPECT_THAT(errors_of(result),
              ElementsAre("c.yaml:6:5: key 'query' is not valid for a tcp target",
                          "c.yaml:7:5: key 'tls' is not valid for a tcp target",
                          "c.yaml:10:5: key 'hosts' is not valid for a kubelet "
                          "target",
                          "c.yaml:14:5: key 'url' is not valid for an inbound "
                          "target",
                          "c.yaml:18:5: key 'ports' is not valid for a dns "
                          "target"));
}

TEST(LoadConfig, MissingRequiredKeysAreReportedAtTheTarget) {
  auto result = load(R"(targets:
  - name: a
    type: tcp
  - name: b
    type: tls
    hosts: [h]
  - name: c
    type: dns
  - name: d
    type: http
  - name: e
    type: inbound
  - type: tcp
    hosts: [h]
    ports: [1]
  - name: g
    hosts: [h]
)");
  EXPECT_THAT(
      errors_of(result),
      ElementsAre(
          "c.yaml:2:5: tcp target 'a' needs 'hosts'", "c.yaml:2:5: tcp target 'a' needs 'ports'",
          "c.yaml:4:5: tls target 'b' needs 'ports'", "c.yaml:7:5: dns target 'c' needs 'query'",
          "c.yaml:9:5: http target 'd' needs 'url'",
          "c.yaml:11:5: inbound target 'e' needs 'ports'", "c.yaml:13:5: target is missing 'name'",
          "c.yaml:16:5: target is missing 'type' (one of tcp, dns, tls, http, "
          "inbound, kubelet)"));
}

TEST(LoadConfig, UnknownTypeIsAnErrorWithASuggestion) {
  auto result = load(with_target("  - name: a\n    type: tpc\n    hosts: [h]\n"));
  EXPECT_THAT(errors_of(result),
              ElementsAre("c.yaml:3:11: unknown target type 'tpc' (one of tcp, dns, tls, http, "
                          "inbound, kubelet) (did you mean 'tcp'?)"));
}

TEST(LoadConfig, DurationsNeedUnitsAndMustBePositive) {
  auto result = load(R"(interval: 10
timeout: 0s
targets:
  - name: a
    type: tcp
    hosts: [h]
    ports: [1]
    interval: 1.5
    timeout: soon
  - name: b
    type: tcp
    hosts: [h]
    ports: [1]
    interval: [1s]
)");
  EXPECT_THAT(
      errors_of(result),
      ElementsAre("c.yaml:1:11: 'interval' 10 has no unit; add one, e.g. 10s or 10ms",
                  "c.yaml:2:10: 'timeout' must be greater than 0",
                  "c.yaml:8:15: 'interval' 1.5 has no unit; add one, e.g. 1.5s or 1.5ms",
                  "c.yaml:9:14: 'timeout' 'soon' is not a duration; write e.g. 500ms, 10s, 1m30s "
                  "or 1h",
                  "c.yaml:14:15: 'interval' must be a single value, not a list"));
}

TEST(LoadConfig, TimeoutMustBeLessThanTheEffectiveInterval) {
  EXPECT_THAT(errors_of(load(with_target("  - {name: a, type: tcp, hosts: [h], ports: [1]}\n") +
                             "interval: 2s\ntimeout: 2s\n")),
              ElementsAre("c.yaml:4:10: timeout 2s must be less than the interval 2s"));
  EXPECT_THAT(errors_of(load("interval: 1s\n" +
                             with_target("  - {name: a, type: tcp, hosts: [h], ports: [1]}\n"))),
              ElementsAre("c.yaml:1:11: timeout 2s must be less than the interval 1s"));

  auto per_target = load(R"(interval: 10s
timeout: 2s
targets:
  - name: own-timeout
    type: tcp
    hosts: [h]
    ports: [1]
    timeout: 10s
  - name: own-interval
    type: tcp
    hosts: [h]
    ports: [1]
    interval: 1500ms
  - name: both
    type: tcp
    hosts: [h]
    ports: [1]
    interval: 1m
    timeout: 1m30s
  - name: fine
    type: tcp
    hosts: [h]
    ports: [1]
    interval: 1s
    timeout: 999ms
)");
  EXPECT_THAT(errors_of(per_target),
              ElementsAre("c.yaml:8:14: timeout 10s must be less than the interval 10s (the "
                          "default)",
                          "c.yaml:13:15: timeout 2s (the default) must be less than the interval "
                          "1.5s",
                          "c.yaml:19:14: timeout 1m30s must be less than the interval 1m"));
}

TEST(LoadConfig, PortsMustBeIntegersInRange) {
  auto result = load(R"(targets:
  - name: a
    type: tcp
    hosts: [h]
    ports: [0, 65536, 80, abc, 1.5, -1, "443", 80, 0x50]
  - name: b
    type: tcp
    hosts: [h]
    ports: 443
  - name: c
    type: tcp
    hosts: [h]
    ports: []
)");
  EXPECT_THAT(errors_of(result),
              ElementsAre("c.yaml:5:13: a port must be an integer from 1 to 65535, not '0'",
                          "c.yaml:5:16: a port must be an integer from 1 to 65535, not '65536'",
                          "c.yaml:5:27: a port must be an integer from 1 to 65535, not 'abc'",
                          "c.yaml:5:32: a port must be an integer from 1 to 65535, not '1.5'",
                          "c.yaml:5:37: a port must be an integer from 1 to 65535, not '-1'",
                          "c.yaml:5:48: duplicate port 80",
                          "c.yaml:5:52: a port must be an integer from 1 to 65535, not '0x50'",
                          "c.yaml:9:12: 'ports' must be a list, not a single value (write [443])",
                          "c.yaml:13:12: 'ports' must not be empty"));
}

TEST(LoadConfig, HostsMustBeIpLiteralsOrDnsNames) {
  auto result = load(R"(targets:
  - name: a
    type: tls
    ports: [443]
    hosts:
      - 10.0.0.300
      - "[::1]"
      - bad_name!
      - -lead.example
      - ""
      - ok.example
      - ok.example
      - {a: b}
      -
      - fe80::1
  - name: b
    type: tcp
    ports: [1]
    hosts: []
)");
  EXPECT_THAT(errors_of(result),
              ElementsAre("c.yaml:6:9: '10.0.0.300' is neither an IP address nor a valid host name",
                          "c.yaml:7:9: write the IPv6 address ::1 without brackets",
                          "c.yaml:8:9: 'bad_name!' is neither an IP address nor a valid host name",
                          "c.yaml:9:9: '-lead.example' is neither an IP address nor a valid host "
                          "name",
                          "c.yaml:10:9: '' is neither an IP address nor a valid host name",
                          "c.yaml:12:9: duplicate host 'ok.example'",
                          "c.yaml:13:9: an item of 'hosts' must be a single value, not a map",
                          "c.yaml:14:7: an item of 'hosts' has no value",
                          "c.yaml:19:12: 'hosts' must not be empty"));
}

TEST(LoadConfig, TargetNamesAreValidatedAndUnique) {
  auto result = load(R"(targets:
  - name: first
    type: kubelet
  - name: "has space"
    type: kubelet
  - name: first
    type: kubelet
  - name: ""
    type: kubelet
)",
                     {{"POD_NAMESPACE", "ns"}, {"POD_NAME", "p"}});
  EXPECT_THAT(errors_of(result),
              ElementsAre("c.yaml:4:11: target name 'has space' may only contain letters, digits, "
                          "'_' and '-'",
                          "c.yaml:6:11: duplicate target name 'first' (first at line 2)",
                          "c.yaml:8:11: target name '' may only contain letters, digits, '_' and "
                          "'-'"));
}

TEST(LoadConfig, LabelNamesMustBeValidAndNotReserved) {
  auto result = load(R"(targets:
  - name: a
    type: tcp
    hosts: [h]
    ports: [1]
    labels:
      good_name: x
      1bad: x
      with-dash: x
      target: x
      result: x
      le: x
      __meta: x
      list: [x]
      good_name: again
)");
  EXPECT_THAT(
      errors_of(result),
      ElementsAre(
          "c.yaml:8:7: label name '1bad' must match [a-zA-Z_][a-zA-Z0-9_]* (a Prometheus label "
          "name)",
          "c.yaml:9:7: label name 'with-dash' must match [a-zA-Z_][a-zA-Z0-9_]* (a Prometheus "
          "label name)",
          "c.yaml:10:7: label name 'target' is reserved by reachprobe",
          "c.yaml:11:7: label name 'result' is reserved by reachprobe",
          "c.yaml:12:7: label name 'le' is reserved by reachprobe",
          "c.yaml:13:7: label name '__meta' must not start with '__' (reserved)",
          "c.yaml:14:13: 'list' must be a single value, not a list",
          "c.yaml:15:7: duplicate key 'good_name' (first at line 7)"));
}

// Prometheus (job, instance) and prometheus-operator (namespace, pod, container, endpoint,
// service) set these on every scraped target; the shipped scrape configs set node. A
// target's own label of that name would arrive as exported_<name>, so it is an error.
TEST(LoadConfig, LabelNamesTheScrapeSetsAreRejected) {
  auto result = load(R"(targets:
  - name: a
    type: tcp
    hosts: [h]
    ports: [1]
    labels:
      job: x
      instance: x
      namespace: x
      pod: x
      container: x
      endpoint: x
      service: x
      node: x
      dst: x
      cluster: fine
)");
  const std::string scrape =
      " is set by Prometheus or prometheus-operator on every scraped target (the series' own "
      "would arrive renamed exported_";
  EXPECT_THAT(
      errors_of(result),
      ElementsAre(
          "c.yaml:7:7: label name 'job'" + scrape + "job); choose another name",
          "c.yaml:8:7: label name 'instance'" + scrape + "instance); choose another name",
          "c.yaml:9:7: label name 'namespace'" + scrape + "namespace); choose another name",
          "c.yaml:10:7: label name 'pod'" + scrape + "pod); choose another name",
          "c.yaml:11:7: label name 'container'" + scrape + "container); choose another name",
          "c.yaml:12:7: label name 'endpoint'" + scrape + "endpoint); choose another name",
          "c.yaml:13:7: label name 'service'" + scrape + "service); choose another name",
          "c.yaml:14:7: label name 'node' is set by the shipped PodMonitor and scrape "
          "config (the pod's node name); choose another name",
          "c.yaml:15:7: label name 'dst' is reserved by reachprobe"));
}

TEST(LoadConfig, ListenMustBeIpAndPort) {
  const std::string target = with_target("  - {name: a, type: tcp, hosts: [h], ports: [1]}\n");
  auto ipv6 = load("listen: \"[::]:9000\"\n" + target);
  ASSERT_THAT(errors_of(ipv6), IsEmpty());
  EXPECT_EQ(ipv6.config->listen, "[::]:9000");
  EXPECT_THAT(errors_of(load("listen: 9754\n" + target)),
              ElementsAre("c.yaml:1:9: 'listen': '9754' must be IP:PORT, e.g. 0.0.0.0:9754 or "
                          "[::]:9754"));
  EXPECT_THAT(errors_of(load("listen: localhost:80\n" + target)),
              ElementsAre("c.yaml:1:9: 'listen': 'localhost:80' must be IP:PORT, e.g. "
                          "0.0.0.0:9754 or [::]:9754"));
}

TEST(ListenAddressProblem, AcceptsIpAndPortOnly) {
  EXPECT_EQ(listen_address_problem("0.0.0.0:9754"), std::nullopt);
  EXPECT_EQ(listen_address_problem("127.0.0.1:1"), std::nullopt);
  EXPECT_EQ(listen_address_problem("[::]:9754"), std::nullopt);
  EXPECT_EQ(listen_address_problem("[::1]:65535"), std::nullopt);
  for (const char* bad : {"", ":9754", "0.0.0.0", "0.0.0.0:", "0.0.0.0:0", "0.0.0.0:65536",
                          "::1:80", "[::1]", "[1.2.3.4]:80", "host:80", "1.2.3:80", "1.2.3.4:x"}) {
    EXPECT_NE(listen_address_problem(bad), std::nullopt) << bad;
  }
}

TEST(LoadConfig, DnsServersAreIpWithOptionalPort) {
  auto result = load(R"(dns:
  servers: [127.0.0.1, "127.0.0.2:5353", "::1", "[::1]:53", "[fd00::2]"]
targets:
  - {name: a, type: dns, query: a.test, server: "127.0.0.1:53"}
)");
  ASSERT_THAT(errors_of(result), IsEmpty());
  EXPECT_THAT(result.config->dns.servers,
              ElementsAre("127.0.0.1", "127.0.0.2:5353", "::1", "[::1]:53", "[fd00::2]"));
  EXPECT_EQ(result.config->targets[0].server, "127.0.0.1:53");

  auto bad = load(R"(dns:
  servers: [dns.example, "1.2.3.4:0", "[::1]:x", "::1:53:", "[1.2.3.4]:53"]
targets:
  - {name: a, type: dns, query: a.test, server: "1.2.3.4:99999"}
)");
  EXPECT_THAT(
      errors_of(bad),
      ElementsAre("c.yaml:2:13: DNS server 'dns.example' must be IP, IP:PORT or [IPv6]:PORT",
                  "c.yaml:2:26: DNS server '1.2.3.4:0' must be IP, IP:PORT or [IPv6]:PORT",
                  "c.yaml:2:39: DNS server '[::1]:x' must be IP, IP:PORT or [IPv6]:PORT",
                  "c.yaml:2:50: DNS server '::1:53:' must be IP, IP:PORT or [IPv6]:PORT",
                  "c.yaml:2:61: DNS server '[1.2.3.4]:53' must be IP, IP:PORT or [IPv6]:PORT",
                  "c.yaml:4:49: DNS server '1.2.3.4:99999' must be IP, IP:PORT or [IPv6]:PORT"));
}

TEST(LoadConfig, DnsTargetOptions) {
  auto result = load(R"(targets:
  - name: srv
    type: dns
    query: _https._tcp.example.test
    record: srv
    expect: {min_answers: 2, contains: [a.example.test, b]}
  - name: ptr
    type: dns
    query: 10.0.0.1
    record: PTR
  - name: connect
    type: dns
    query: am.monitoring.svc
    connect_port: 9093
    max_connect: 5
)");
  ASSERT_THAT(errors_of(result), IsEmpty());
  const auto& targets = result.config->targets;
  EXPECT_EQ(targets[0].record, "SRV");
  EXPECT_EQ(targets[0].query, "_https._tcp.example.test");
  EXPECT_EQ(targets[0].expect.min_answers, 2u);
  EXPECT_THAT(targets[0].expect.contains, ElementsAre("a.example.test", "b"));
  EXPECT_EQ(targets[1].record, "PTR");
  EXPECT_EQ(targets[1].query, "10.0.0.1");
  EXPECT_EQ(targets[2].connect_port, 9093);
  EXPECT_EQ(targets[2].max_connect, 5u);

  auto bad = load(R"(targets:
  - name: a
    type: dns
    query: "not a name"
    record: AXFR
  - name: b
    type: dns
    query: b.test
    record: TXT
    connect_port: 80
  - name: c
    type: dns
    query: c.test
    max_connect: 0
    expect: {min_answers: 0, contains: x}
)");
  EXPECT_THAT(errors_of(bad),
              ElementsAre("c.yaml:4:12: 'query' 'not a name' is not a valid DNS name",
                          "c.yaml:5:13: unknown record type 'AXFR' (one of A, AAAA, CNAME, SRV, "
                          "TXT, NS, PTR, MX, SOA, CAA)",
                          "c.yaml:10:19: 'connect_port' needs record A or AAAA (addresses to "
                          "connect to), not TXT",
                          "c.yaml:14:18: 'max_connect' must be an integer from 1 to 1000, not '0'",
                          "c.yaml:14:18: 'max_connect' needs 'connect_port'",
                          "c.yaml:15:27: 'min_answers' must be an integer from 1 to 1000, not '0'",
                          "c.yaml:15:40: 'contains' must be a list, not a single value (write "
                          "[x])"));
}

TEST(LoadConfig, MaxConnectMayRaiseTheDefaultBoundUpToTheLimit) {
  auto result = load(R"(targets:
  - name: wide
    type: dns
    query: pods.test
    connect_port: 80
    max_connect: 1000
)");
  ASSERT_THAT(errors_of(result), IsEmpty());
  EXPECT_GT(kMaxConnectLimit, kDefaultMaxConnect);
  EXPECT_EQ(result.config->targets[0].max_connect, kMaxConnectLimit);

  auto too_wide = load(R"(targets:
  - name: wide
    type: dns
    query: pods.test
    connect_port: 80
    max_connect: 1001
)");
  EXPECT_THAT(errors_of(too_wide),
              ElementsAre("c.yaml:6:18: 'max_connect' must be an integer from 1 to 1000, not "
                          "'1001'"));
}

TEST(LoadConfig, HttpTargetOptions) {
  auto result = load(R"(targets:
  - name: a
    type: http
    url: https://[::1]:8443/healthz?x=1
    method: head
    headers: {X-Probe: "yes", Accept: "*/*"}
    expect_status: [200, 204, 301]
    follow_redirects: true
    tls: {server_name: api.test, insecure_skip_verify: true}
)");
  ASSERT_THAT(errors_of(result), IsEmpty());
  const Target& http = only_target(result);
  EXPECT_EQ(http.url, "https://[::1]:8443/healthz?x=1");
  EXPECT_EQ(http.method, "HEAD");
  EXPECT_THAT(http.headers, ElementsAre(std::pair<std::string, std::string>("X-Probe", "yes"),
                                        std::pair<std::string, std::string>("Accept", "*/*")));
  EXPECT_THAT(http.expect_status, ElementsAre(200, 204, 301));
  EXPECT_TRUE(http.follow_redirects);
  ASSERT_TRUE(http.tls.has_value());
  EXPECT_EQ(http.tls->server_name, "api.test");
  EXPECT_TRUE(http.tls->insecure_skip_verify);

  auto bad = load(R"(targets:
  - name: a
    type: http
    url: ftp://x/
    method: POST
    headers: {"Bad Header": x}
    expect_status: [99, 600, ok]
    follow_redirects: maybe
    bearer_token_file: ""
  - name: b
    type: http
    url: http://x.test:0/
  - name: c
    type: http
    url: http://user:pw@x.test/
  - name: d
    type: http
    url: http://x.test/
    tls: {insecure_skip_verify: true}
  - name: e
    type: http
    url: https:///path
    expect_status: []
)");
  EXPECT_THAT(
      errors_of(bad),
      ElementsAre("c.yaml:4:10: URL 'ftp://x/' must start with http:// or https://",
                  "c.yaml:5:13: 'method' must be GET, HEAD or PUT, not 'POST'",
                  "c.yaml:6:15: header name 'Bad Header' is not a valid HTTP header name",
                  "c.yaml:7:21: a status in 'expect_status' must be an integer from 100 to 599, "
                  "not '99'",
                  "c.yaml:7:25: a status in 'expect_status' must be an integer from 100 to 599, "
                  "not '600'",
                  "c.yaml:7:30: a status in 'expect_status' must be an integer from 100 to 599, "
                  "not 'ok'",
                  "c.yaml:8:23: 'follow_redirects' must be true or false, not 'maybe'",
                  "c.yaml:9:24: 'bearer_token_file' must not be empty",
                  "c.yaml:12:10: URL 'http://x.test:0/' has an invalid port",
                  "c.yaml:15:10: URL 'http://user:pw@x.test/' must not contain credentials; use "
                  "headers or bearer_token_file",
                  "c.yaml:19:5: 'tls' needs an https:// URL",
                  "c.yaml:22:10: URL 'https:///path' has no host",
                  "c.yaml:23:20: 'expect_status' must not be empty (leave it out for any 2xx)"));
}

TEST(LoadConfig, TlsOptionsOfTlsTargets) {
  auto result = load(R"(targets:
  - name: sts
    type: tls
    hosts: [sts.test]
    ports: [443]
    tls:
      server_name: other.test
      ca_file: /etc/ca.pem
      insecure_skip_verify: false
)");
  const Target& target = only_target(result);
  ASSERT_TRUE(target.tls.has_value());
  EXPECT_EQ(target.tls->server_name, "other.test");
  EXPECT_EQ(target.tls->ca_file, "/etc/ca.pem");
  EXPECT_FALSE(target.tls->insecure_skip_verify);

  EXPECT_THAT(errors_of(load(with_target("  - {name: a, type: tls, hosts: [h], ports: [1], "
                                         "tls: [x]}\n"))),
              ElementsAre("c.yaml:2:55: 'tls' must be a map, not a list"));
}

TEST(LoadConfig, EnvironmentVariablesExpandInEveryValue) {
  auto result = load(R"(interval: ${INTERVAL}
targets:
  - name: ${NAME:-fallback}
    type: ${TYPE}
    hosts: ["${HOST}", "${OTHER:-other.test}"]
    ports: [$PORT, "${PORT_NUMBER}"]
    hint: "costs $$5, see ${DOC:-runbook}"
    labels: {cluster: "${CLUSTER}"}
)",
                     {{"INTERVAL", "30s"},
                      {"TYPE", "tcp"},
                      {"HOST", "10.0.0.1"},
                      {"PORT_NUMBER", "443"},
                      {"CLUSTER", "prod"}});
  EXPECT_THAT(errors_of(result),
              ElementsAre("c.yaml:6:13: a port must be an integer from 1 to 65535, not '$PORT'"));

  auto fixed = load(R"(interval: ${INTERVAL}
targets:
  - name: ${NAME:-fallback}
    type: ${TYPE}
    hosts: ["${HOST}", "${OTHER:-other.test}"]
    ports: ["${PORT_NUMBER}"]
    hint: "costs $$5, see ${DOC:-runbook}"
    labels: {cluster: "${CLUSTER}"}
)",
                    {{"INTERVAL", "30s"},
                     {"TYPE", "tcp"},
                     {"HOST", "10.0.0.1"},
                     {"PORT_NUMBER", "443"},
                     {"CLUSTER", "prod"}});
  const Target& target = only_target(fixed);
  EXPECT_EQ(fixed.config->interval, seconds(30));
  EXPECT_EQ(target.name, "fallback");
  EXPECT_EQ(target.type, ProbeType::Tcp);
  EXPECT_THAT(target.hosts, ElementsAre("10.0.0.1", "other.test"));
  EXPECT_THAT(target.ports, ElementsAre(443));
  EXPECT_EQ(target.hint, "costs $5, see runbook");
  EXPECT_THAT(target.labels, ElementsAre(std::pair<std::string, std::string>("cluster", "prod")));
}

TEST(LoadConfig, AHintMayNameTheResultsItExplains) {
  auto result = load(with_target(R"(  - name: mesh
    type: tcp
    hosts: [10.0.0.1]
    ports: [9754]
    hint:
      timeout: "the node security group must allow TCP 9754 from itself"
      unreachable: "check the route tables"
)"));
  const Target& target = only_target(result);
  EXPECT_EQ(target.hint, "");
  EXPECT_THAT(
      target.result_hints,
      ElementsAre(std::pair<Outcome, std::string>(
                      Outcome::Timeout, "the node security group must allow TCP 9754 from itself"),
                  std::pair<Outcome, std::string>(Outcome::Unreachable, "check the route tables")));
  EXPECT_EQ(target.hint_for(Outcome::Unreachable), "check the route tables");
  EXPECT_EQ(target.hint_for(Outcome::Refused), "");

  auto wrong = load(with_target(R"(  - name: mesh
    type: tcp
    hosts: [10.0.0.1]
    ports: [9754]
    hint: {timeuot: "x", ok: "y", refused: [a]}
)"));
  EXPECT_THAT(
      errors_of(wrong),
      ElementsAre(
          ::testing::HasSubstr("c.yaml:6:12: hint for 'timeuot': not a failing result (one "
                               "of timeout, refused,"),
          ::testing::HasSubstr("c.yaml:6:26: hint for 'ok': not a failing result"),
          ::testing::HasSubstr("c.yaml:6:44: 'refused' must be a single value, not a list")));
  EXPECT_THAT(errors_of(wrong),
              ::testing::Contains(::testing::HasSubstr("(did you mean 'timeout'?)")));
}

TEST(LoadConfig, UnsetOrMalformedVariablesAreErrorsAtTheirValue) {
  auto result = load(R"(listen: ${LISTEN}
targets:
  - name: a
    type: tcp
    hosts: [h, "${HOST"]
    ports: [1]
    hint: ${}
)");
  EXPECT_THAT(errors_of(result),
              ElementsAre("c.yaml:1:9: 'listen': environment variable LISTEN is not set (write "
                          "${LISTEN:-default} for a default)",
                          "c.yaml:5:16: an item of 'hosts': '${' without a closing '}'",
                          "c.yaml:7:11: 'hint': '${}' has no variable name; write ${NAME} or "
                          "${NAME:-default}"));
}

TEST(LoadConfig, WrongNodeKindsAreErrorsNotExceptions) {
  auto result = load(R"(dns: [1.1.1.1]
kubernetes: yes
targets:
  - just-a-name
  -
  - name: [a]
    type: {tcp: 1}
  - name: b
    type: tcp
    hosts: {h: 1}
    ports: [[1]]
    labels: [a]
    ? [complex, key]
    : value
)");
  EXPECT_THAT(errors_of(result),
              ElementsAre("c.yaml:1:6: 'dns' must be a map, not a list",
                          "c.yaml:2:13: 'kubernetes' must be a map, not a single value",
                          "c.yaml:4:5: a target must be a map with 'name' and 'type', not a single "
                          "value",
                          "c.yaml:5:3: a target must be a map with 'name' and 'type', not empty",
                          "c.yaml:6:11: 'name' must be a single value, not a list",
                          "c.yaml:7:11: 'type' must be a single value, not a map",
                          "c.yaml:10:12: 'hosts' must be a list, not a map",
                          "c.yaml:11:13: a port must be a single value, not a list",
                          "c.yaml:12:13: 'labels' must be a map, not a list",
                          "c.yaml:13:7: a key must be a plain word, not a list"));
}

TEST(LoadConfig, KubernetesSettingsAreValidated) {
  auto result = load(R"(targets:
  - {name: a, type: tcp, hosts: [h], ports: [1]}
kubernetes:
  api_server: kubernetes.default.svc
  token_file: ""
  ca_file: [a]
)");
  EXPECT_THAT(errors_of(result),
              ElementsAre("c.yaml:4:15: 'api_server': URL 'kubernetes.default.svc' must start with "
                          "http:// or https://",
                          "c.yaml:5:15: 'token_file' must not be empty",
                          "c.yaml:6:12: 'ca_file' must be a single value, not a list"));
}

TEST(LoadConfig, AThrowingEnvironmentLookupBecomesAnError) {
  EnvLookup throwing = [](std::string_view) -> std::optional<std::string> {
    throw std::runtime_error("boom");
  };
  auto result = load_config_string("targets:\n  - {name: a, type: tcp, hosts: [h], ports: [1]}\n",
                                   "c.yaml", throwing);
  EXPECT_THAT(errors_of(result), ElementsAre("c.yaml:0:0: internal error: boom"));
  EXPECT_FALSE(result.config.has_value());
}

TEST(LoadConfig, DuplicateKeysPointAtTheSecond) {
  auto result = load(R"(interval: 10s
targets:
  - {name: a, type: tcp, hosts: [h], ports: [1]}
interval: 20s
)");
  EXPECT_THAT(errors_of(result),
              ElementsAre("c.yaml:4:1: duplicate key 'interval' (first at line 1)"));
}

TEST(LoadConfig, InboundTargetsCannotShareAPort) {
  auto result = load(R"(targets:
  - {name: a, type: inbound, ports: [9443, 9444]}
  - {name: b, type: inbound, ports: [9444]}
)",
                     {{"POD_NAMESPACE", "ns"}, {"POD_NAME", "p"}});
  EXPECT_THAT(errors_of(result),
              ElementsAre("c.yaml:3:38: port 9444 is already used by inbound target 'a'"));
}

TEST(LoadConfig, EveryProblemIsReportedInFileOrder) {
  auto result = load(R"(targets:
  - name: a
    type: tcp
    hosts: [h]
    ports: [70000]
  - name: b
    type: dns
    query: ok.test
    bogus: 1
listen: nope
timeout: 5
)");
  EXPECT_THAT(errors_of(result),
              ElementsAre("c.yaml:5:13: a port must be an integer from 1 to 65535, not '70000'",
                          "c.yaml:9:5: unknown key 'bogus' in a target",
                          "c.yaml:10:9: 'listen': 'nope' must be IP:PORT, e.g. 0.0.0.0:9754 or "
                          "[::]:9754",
                          "c.yaml:11:10: 'timeout' 5 has no unit; add one, e.g. 5s or 5ms"));
  EXPECT_FALSE(result.config.has_value());
}

TEST(ConfigError, FormatsAsPathLineColumnMessage) {
  ConfigError error{"/etc/reachprobe.yaml", 12, 7, "something is wrong"};
  EXPECT_EQ(error.to_string(), "/etc/reachprobe.yaml:12:7: something is wrong");
}

// A temporary directory removed at the end of the test, also when it fails.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "config_test.XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(LoadConfigFile, ReadsAFile) {
  TempDir dir;
  const std::string path = (dir.path() / "reachprobe.yaml").string();
  std::ofstream(path) << "targets:\n  - {name: a, type: tcp, hosts: [h], ports: [1]}\n";
  auto result = load_config_file(path, fake_env({}));
  ASSERT_THAT(errors_of(result), IsEmpty());
  EXPECT_EQ(result.config->targets.at(0).position.path, path);

  std::ofstream(path) << "targets: [\n";
  auto broken = load_config_file(path, fake_env({}));
  ASSERT_EQ(broken.errors.size(), 1u);
  EXPECT_EQ(broken.errors[0].path, path);
  EXPECT_EQ(broken.errors[0].line, 2);
}

TEST(LoadConfigFile, UnreadableFileIsOneErrorAtLineZero) {
  TempDir dir;
  const std::string missing = (dir.path() / "missing.yaml").string();
  EXPECT_THAT(errors_of(load_config_file(missing, fake_env({}))),
              ElementsAre(missing + ":0:0: cannot read: No such file or directory"));
  EXPECT_THAT(errors_of(load_config_file(dir.path().string(), fake_env({}))),
              ElementsAre(dir.path().string() +
                          ":0:0: is a directory, not a config file; --config takes the path of "
                          "a YAML file"));
}

TEST(SystemEnv, ReadsTheProcessEnvironment) {
  ASSERT_EQ(setenv("REACHPROBE_CONFIG_TEST_VAR", "value", 1), 0);
  EXPECT_EQ(system_env()("REACHPROBE_CONFIG_TEST_VAR"), "value");
  ASSERT_EQ(unsetenv("REACHPROBE_CONFIG_TEST_VAR"), 0);
  EXPECT_EQ(system_env()("REACHPROBE_CONFIG_TEST_VAR"), std::nullopt);
}

}  // namespace
}  // namespace reachprobe::config

namespace reachprobe::config {
namespace {

TEST(LoadConfig, AwsImdsIsOffUnlessAsked) {
  const std::string target = "  - {name: a, type: tcp, hosts: [10.0.0.1], ports: [443]}\n";
  auto off = load_config_string("targets:\n" + target, "c.yaml", fake_env({}));
  ASSERT_TRUE(off.config);
  EXPECT_FALSE(off.config->aws.imds);
  auto on = load_config_string("aws:\n  imds: true\ntargets:\n" + target, "c.yaml", fake_env({}));
  ASSERT_TRUE(on.config) << ::testing::PrintToString(errors_of(on));
  EXPECT_TRUE(on.config->aws.imds);
}

TEST(LoadConfig, AwsSectionErrorsHaveTheirPlace) {
  const std::string target = "  - {name: a, type: tcp, hosts: [10.0.0.1], ports: [443]}\n";
  auto bad = load_config_string("aws:\n  imds: maybe\n  region: x\ntargets:\n" + target, "c.yaml",
                                fake_env({}));
  EXPECT_FALSE(bad.config);
  const auto errors = errors_of(bad);
  ASSERT_EQ(errors.size(), 2u) << ::testing::PrintToString(errors);
  EXPECT_THAT(errors, ::testing::Contains(::testing::StartsWith("c.yaml:3:3: ")));
  EXPECT_THAT(errors, ::testing::Contains(::testing::StartsWith("c.yaml:2:9: ")));
}

TEST(AsksForImds, ReadsTheKeyBeforeVariablesAreExpanded) {
  EXPECT_TRUE(asks_for_imds(
      "aws: {imds: true}\ntargets:\n  - {name: sts, hosts: [\"sts.${AWS_REGION}.x\"]}"));
  EXPECT_FALSE(asks_for_imds("aws: {imds: false}\n"));
  EXPECT_FALSE(asks_for_imds("targets: []\n"));
  EXPECT_FALSE(asks_for_imds("aws: [\n"));  // broken YAML: the loader reports it
}

}  // namespace
}  // namespace reachprobe::config
