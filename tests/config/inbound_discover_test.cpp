// `discover: webhooks` on an inbound target: what loads, and every error at line:column.
#include "probe/config/inbound_discover.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "probe/config/config.hpp"

namespace reachprobe::config {
namespace {

using ::testing::ElementsAre;

LoadResult load(std::string_view yaml) {
  return load_config_string(yaml, "c.yaml", [](std::string_view) -> std::optional<std::string> {
    return std::nullopt;
  });
}

std::vector<std::string> errors_of(const LoadResult& result) {
  std::vector<std::string> lines;
  for (const ConfigError& error : result.errors) lines.push_back(error.to_string());
  return lines;
}

constexpr std::string_view kKubernetes = R"(kubernetes:
  namespace: reachprobe
  pod_name: reachprobe-x7k2p
  pod_ip: 10.0.1.20
)";

TEST(InboundDiscoverConfig, WebhooksAloneOrWithPortsOfItsOwn) {
  auto result = load(std::string(kKubernetes) + R"(targets:
  - name: webhook-inbound
    type: inbound
    discover: webhooks
  - name: extra
    type: inbound
    discover: webhooks
)");
  EXPECT_THAT(errors_of(result),
              ElementsAre("c.yaml:11:15: only one inbound target may discover webhooks (the "
                          "first is 'webhook-inbound'): each port is probed once"));
  result = load(std::string(kKubernetes) + R"(targets:
  - name: webhook-inbound
    type: inbound
    discover: webhooks
    ports: [9443]
)");
  ASSERT_TRUE(result.config) << errors_of(result).front();
  const Target& t = result.config->targets.front();
  EXPECT_TRUE(t.discover_webhooks);
  EXPECT_FALSE(t.discover);
  EXPECT_EQ(t.ports, std::vector<std::uint16_t>{9443});
  EXPECT_EQ(t.hosts, std::vector<std::string>{"10.0.1.20"});
}

TEST(InboundDiscoverConfig, WrongValuesAndPlacesAreErrors) {
  auto result = load(std::string(kKubernetes) + R"(targets:
  - name: a
    type: inbound
    discover: apiservices
  - name: b
    type: inbound
  - name: c
    type: kubelet
    discover: webhooks
  - name: d
    type: inbound
    discover: {service: kube-system/x}
)");
  EXPECT_THAT(
      errors_of(result),
      ElementsAre("c.yaml:8:15: unknown inbound 'discover' 'apiservices' (one of: webhooks): "
                  "'webhooks' covers webhook configurations and APIServices alike",
                  "c.yaml:9:5: inbound target 'b' needs 'ports'",
                  "c.yaml:13:5: key 'discover' is not valid for a kubelet target",
                  ::testing::HasSubstr("c.yaml:16:")));
  EXPECT_EQ(inbound_discover_problem("webhooks"), std::nullopt);
}

}  // namespace
}  // namespace reachprobe::config
