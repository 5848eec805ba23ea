#include "probe/config/private_endpoints.hpp"

#include <gtest/gtest.h>

#include <map>

#include "probe/config/config.hpp"

namespace reachprobe::config {
namespace {

using Vars = std::map<std::string, std::string>;

LoadResult load(const std::string& aws, Vars vars) {
  return load_config_string(
      "aws:\n" + aws + "targets:\n  - {name: local, type: tcp, hosts: [127.0.0.1], ports: [1]}\n",
      "c.yaml", [vars](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        if (it == vars.end()) return std::nullopt;
        return it->second;
      });
}

std::string first_error(const LoadResult& r) {
  return r.errors.empty() ? "" : r.errors.front().to_string();
}

TEST(PrivateEndpoints, OneValueSwitchesOnEveryServiceAsATlsTarget) {
  auto r = load("  private_endpoints: true\n",
                {{"AWS_REGION", "eu-west-1"}, {"AWS_ACCOUNT_ID", "123456789012"}});
  ASSERT_TRUE(r.config) << first_error(r);
  std::map<std::string, std::string> hosts;
  for (const auto& t : r.config->targets) {
    if (t.name == "local") continue;
    EXPECT_EQ(t.type, ProbeType::Tls) << t.name;
    EXPECT_EQ(t.ports, std::vector<std::uint16_t>{443}) << t.name;
    ASSERT_EQ(t.hosts.size(), 1u);
    hosts[t.name] = t.hosts[0];
    EXPECT_EQ(t.labels,
              (std::vector<std::pair<std::string, std::string>>{{"group", "aws-private"}}));
    EXPECT_TRUE(t.aws_service.starts_with("com.amazonaws.eu-west-1.")) << t.aws_service;
    EXPECT_EQ(t.position.line, 2);
  }
  EXPECT_EQ(hosts, (std::map<std::string, std::string>{
                       {"aws-ecr-api", "api.ecr.eu-west-1.amazonaws.com"},
                       {"aws-ecr-dkr", "123456789012.dkr.ecr.eu-west-1.amazonaws.com"},
                       {"aws-s3", "s3.eu-west-1.amazonaws.com"},
                       {"aws-ec2", "ec2.eu-west-1.amazonaws.com"},
                       {"aws-eks", "eks.eu-west-1.amazonaws.com"},
                       {"aws-sts", "sts.eu-west-1.amazonaws.com"}}));
}

TEST(PrivateEndpoints, OffByDefaultAndWithFalse) {
  for (const std::string aws : {"  imds: false\n", "  private_endpoints: false\n"}) {
    auto r = load(aws, {});
    ASSERT_TRUE(r.config) << first_error(r);
    EXPECT_EQ(r.config->targets.size(), 1u);
  }
  // The value the chart passes through the environment.
  auto r = load("  private_endpoints: ${REACHPROBE_PRIVATE_ENDPOINTS:-false}\n", {});
  ASSERT_TRUE(r.config) << first_error(r);
  EXPECT_EQ(r.config->targets.size(), 1u);
}

TEST(PrivateEndpoints, AListPicksServicesAndNeedsNoAccountWithoutDkr) {
  auto r = load("  private_endpoints: [ecr.api, s3]\n", {{"AWS_REGION", "cn-north-1"}});
  ASSERT_TRUE(r.config) << first_error(r);
  ASSERT_EQ(r.config->targets.size(), 3u);
  EXPECT_EQ(r.config->targets[1].hosts[0], "api.ecr.cn-north-1.amazonaws.com.cn");
  EXPECT_EQ(r.config->targets[2].aws_service, "cn.com.amazonaws.cn-north-1.s3");
}

TEST(PrivateEndpoints, ProblemsAreConfigErrorsAtTheKey) {
  EXPECT_EQ(first_error(load("  private_endpoints: true\n", {})),
            "c.yaml:2:3: 'private_endpoints' needs the region for the service names: set "
            "AWS_REGION, or 'imds: true' for the node's");
  EXPECT_EQ(first_error(load("  private_endpoints: true\n", {{"AWS_REGION", "eu-west-1"}}))
                .find("c.yaml:2:3: 'private_endpoints' needs the account id"),
            0u);
  EXPECT_EQ(
      first_error(load("  private_endpoints: [ecr.api, ecr]\n", {{"AWS_REGION", "eu-west-1"}}))
          .find("c.yaml:2:32: unknown service 'ecr' in 'private_endpoints'"),
      0u);
  EXPECT_EQ(first_error(load("  private_endpoints: maybe\n", {})),
            "c.yaml:2:22: 'private_endpoints' must be true, false or a list of services (ecr.api, "
            "ecr.dkr, s3, ec2, eks, sts), not 'maybe'");
  EXPECT_EQ(first_error(load("  private_endpoints: [s3]\n", {{"AWS_REGION", "Europe"}})),
            "c.yaml:2:3: AWS_REGION 'Europe' is not a region");
}

TEST(PrivateEndpoints, ANameTakenByAnotherTargetIsAnError) {
  auto r = load_config_string(
      "aws: {private_endpoints: [sts]}\ntargets:\n  - {name: aws-sts, type: tcp, hosts: [a.b], "
      "ports: [1]}\n",
      "c.yaml", [](std::string_view n) -> std::optional<std::string> {
        if (n == "AWS_REGION") return "eu-west-1";
        return std::nullopt;
      });
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(
      r.errors[0].to_string(),
      "c.yaml:1:7: 'private_endpoints' adds target 'aws-sts', and a target of that name is at "
      "line 3");
}

}  // namespace
}  // namespace reachprobe::config
