// The `discover:` block of a target (issue 14): what loads, and every error at line:column.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "probe/config/config.hpp"

namespace reachprobe::config {
namespace {

using ::testing::ElementsAre;

LoadResult load(std::string_view yaml, std::map<std::string, std::string> vars = {}) {
  return load_config_string(yaml, "c.yaml",
                            [vars](std::string_view name) -> std::optional<std::string> {
                              auto it = vars.find(std::string(name));
                              if (it == vars.end()) return std::nullopt;
                              return it->second;
                            });
}

std::vector<std::string> errors_of(const LoadResult& result) {
  std::vector<std::string> lines;
  for (const ConfigError& error : result.errors) lines.push_back(error.to_string());
  return lines;
}

TEST(DiscoverConfig, TcpTlsAndDnsTargetsLoadWithTheirDefaults) {
  auto result = load(R"(targets:
  - name: alertmanager-pods
    type: tcp
    discover:
      service: ${AM_NAMESPACE}/alertmanager-operated
      port: http-web
    max_connect: 5
    exclude_self: true
  - name: control-plane
    type: tls
    discover:
      service: default/kubernetes
    ports: [443]
    tls:
      server_name: kubernetes.default.svc
  - name: kube-dns-pods
    type: dns
    query: kubernetes.default.svc.cluster.local
    discover:
      service: kube-system/kube-dns
      addresses: cluster_ip
      port: 53
      include_not_ready: true
)",
                     {{"AM_NAMESPACE", "monitoring"}});
  ASSERT_TRUE(result.config) << ::testing::PrintToString(errors_of(result));
  const auto& targets = result.config->targets;
  ASSERT_EQ(targets.size(), 3u);
  ASSERT_TRUE(targets[0].discover);
  EXPECT_EQ(*targets[0].discover, (Discover{"monitoring", "alertmanager-operated",
                                            DiscoverAddresses::Endpoints, "http-web", false}));
  EXPECT_EQ(targets[0].max_connect, 5u);
  EXPECT_TRUE(targets[0].exclude_self);
  EXPECT_TRUE(targets[0].hosts.empty());
  EXPECT_TRUE(targets[0].ports.empty());
  EXPECT_EQ(targets[1].discover->service, "kubernetes");
  EXPECT_EQ(targets[1].ports, std::vector<std::uint16_t>{443});
  EXPECT_FALSE(targets[1].exclude_self);
  EXPECT_EQ(*targets[2].discover,
            (Discover{"kube-system", "kube-dns", DiscoverAddresses::ClusterIp, "53", true}));
}

TEST(DiscoverConfig, ErrorsPointAtTheValue) {
  auto result = load(R"(targets:
  - name: a
    type: tcp
    discover:
      service: monitoring
      adresses: endpoints
      addresses: endpoint
      port: Http_Web
      include_not_ready: maybe
  - name: b
    type: tcp
    hosts: [10.0.0.1]
    ports: [80]
    discover:
      service: Monitoring/am
  - name: c
    type: http
    url: http://127.0.0.1/
    discover:
      service: a/b
  - name: d
    type: dns
    query: example.com
    server: 10.0.0.10
    discover:
      service: kube-system/kube-dns
  - name: e
    type: tcp
    hosts: [10.0.0.1]
    ports: [80]
    max_connect: 3
    exclude_self: true
  - name: f
    type: tcp
    discover: {}
  - name: g
    type: tls
    discover:
      service: a/b
      port: 70000
)");
  EXPECT_THAT(
      errors_of(result),
      ElementsAre(
          "c.yaml:5:16: 'service' 'monitoring' must be NAMESPACE/NAME, each a lowercase DNS "
          "label (letters, digits, '-'), e.g. monitoring/alertmanager-operated",
          "c.yaml:6:7: unknown key 'adresses' in 'discover' (did you mean 'addresses'?)",
          "c.yaml:7:18: unknown 'addresses' 'endpoint' (one of endpoints, cluster_ip) (did you "
          "mean 'endpoints'?)",
          "c.yaml:8:13: 'port' 'Http_Web' is not a port name (at most 15 lowercase letters, "
          "digits and '-') or number",
          "c.yaml:9:26: 'include_not_ready' must be true or false, not 'maybe'",
          "c.yaml:12:5: 'hosts' and 'discover' exclude each other: the addresses are either "
          "listed or discovered",
          "c.yaml:15:16: 'service' 'Monitoring/am' must be NAMESPACE/NAME, each a lowercase DNS "
          "label (letters, digits, '-'), e.g. monitoring/alertmanager-operated",
          "c.yaml:19:5: key 'discover' is not valid for a http target",
          "c.yaml:24:5: 'server' and 'discover' exclude each other: the discovered addresses "
          "are the servers",
          "c.yaml:31:5: 'max_connect' needs 'discover' (it chooses among discovered addresses)",
          "c.yaml:32:5: 'exclude_self' needs 'discover' (it skips the discovered endpoint on "
          "this node)",
          "c.yaml:35:5: 'discover' needs 'service' (NAMESPACE/NAME)",
          "c.yaml:40:13: 'port' '70000' must be a port number from 1 to 65535 or a port name"));
}

TEST(DiscoverConfig, PeerLabelsAreReserved) {
  auto result = load(R"(targets:
  - name: a
    type: tcp
    discover: {service: a/b}
    labels: {peer_node: x}
)");
  EXPECT_THAT(errors_of(result),
              ElementsAre("c.yaml:5:14: label name 'peer_node' is reserved by reachprobe"));
}

}  // namespace
}  // namespace reachprobe::config
