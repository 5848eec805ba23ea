// The config of the pod vantage: the top-level `vantage`, `expect: closed|open` on every
// target type, dns `parallel_aaaa`, http `method: PUT` (the IMDSv2 token request).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "probe/config/config.hpp"

namespace reachprobe::config {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

LoadResult load(std::string_view yaml) {
  return load_config_string(
      yaml, "c.yaml", [](std::string_view) -> std::optional<std::string> { return std::nullopt; });
}

std::vector<std::string> errors_of(const LoadResult& result) {
  std::vector<std::string> lines;
  for (const ConfigError& error : result.errors) lines.push_back(error.to_string());
  return lines;
}

TEST(VantageConfig, DefaultsToTheNodeAndEveryTargetCarriesIt) {
  auto node = load("targets:\n  - {name: a, type: tcp, hosts: [10.0.0.1], ports: [1]}\n");
  ASSERT_THAT(errors_of(node), IsEmpty());
  EXPECT_EQ(node.config->vantage, Vantage::Node);
  EXPECT_EQ(node.config->targets[0].vantage, Vantage::Node);

  auto pod = load(R"(vantage: pod
targets:
  - {name: a, type: tcp, hosts: [10.0.0.1], ports: [1]}
  - {name: b, type: dns, query: b.test}
)");
  ASSERT_THAT(errors_of(pod), IsEmpty());
  EXPECT_EQ(pod.config->vantage, Vantage::Pod);
  for (const auto& t : pod.config->targets) EXPECT_EQ(t.vantage, Vantage::Pod) << t.name;
}

TEST(VantageConfig, AnUnknownVantageIsAnErrorAtItsPosition) {
  auto bad = load("vantage: pods\ntargets:\n  - {name: a, type: tcp, hosts: [h], ports: [1]}\n");
  EXPECT_THAT(errors_of(bad),
              ElementsAre("c.yaml:1:10: 'vantage' must be node or pod, not 'pods' (did you mean "
                          "'pod'?)"));
}

TEST(VantageConfig, VantageIsAReservedLabelName) {
  auto bad =
      load("targets:\n  - {name: a, type: tcp, hosts: [h], ports: [1], labels: {vantage: pod}}\n");
  EXPECT_THAT(errors_of(bad),
              ElementsAre("c.yaml:2:59: label name 'vantage' is reserved by reachprobe"));
}

TEST(ExpectConfig, ClosedOrOpenOnEveryTypeAndTheDnsMapStillWorks) {
  auto result = load(R"(kubernetes: {namespace: ns, pod_name: p}
targets:
  - {name: tcp, type: tcp, hosts: [10.0.0.1], ports: [22], expect: closed}
  - {name: tls, type: tls, hosts: [h.test], ports: [443], expect: open}
  - name: imds
    type: http
    url: http://127.0.0.1:1/latest/api/token
    method: put
    headers: {X-aws-ec2-metadata-token-ttl-seconds: "60"}
    expect: closed
  - {name: in, type: inbound, ports: [9443], expect: closed}
  - {name: kubelet, type: kubelet, expect: closed}
  - {name: dns-connect, type: dns, query: a.test, connect_port: 5432, expect: closed}
  - {name: dns-checks, type: dns, query: b.test, expect: {min_answers: 2}}
)");
  ASSERT_THAT(errors_of(result), IsEmpty());
  const auto& t = result.config->targets;
  EXPECT_EQ(t[0].expectation, Expectation::Closed);
  EXPECT_EQ(t[1].expectation, Expectation::Open);
  EXPECT_EQ(t[2].expectation, Expectation::Closed);
  EXPECT_EQ(t[2].method, "PUT");
  EXPECT_EQ(t[3].expectation, Expectation::Closed);
  EXPECT_EQ(t[4].expectation, Expectation::Closed);
  EXPECT_EQ(t[5].expectation, Expectation::Closed);
  EXPECT_EQ(t[6].expectation, Expectation::Open);
  EXPECT_EQ(t[6].expect.min_answers, 2u);
}

TEST(ExpectConfig, ProblemsAreReportedAtTheirPosition) {
  auto bad = load(R"(targets:
  - {name: a, type: tcp, hosts: [h], ports: [1], expect: shut}
  - {name: b, type: tcp, hosts: [h], ports: [1], expect: {min_answers: 1}}
  - {name: c, type: dns, query: c.test, expect: closed}
  - {name: d, type: dns, query: d.test, expect: 3}
)");
  EXPECT_THAT(errors_of(bad),
              ElementsAre("c.yaml:2:58: 'expect' must be closed or open, not 'shut'",
                          "c.yaml:3:58: 'expect' of a tcp target is closed or open, not a map "
                          "(min_answers and contains are for dns targets)",
                          "c.yaml:4:49: 'expect: closed' on a dns target needs 'connect_port': the "
                          "addresses it connects to are what must stay closed (the name must still "
                          "resolve)",
                          "c.yaml:5:49: 'expect' must be closed or open (or a map of min_answers, "
                          "contains), not '3'"));
}

TEST(DnsParallelAaaaConfig, NeedsRecordA) {
  auto ok = load("targets:\n  - {name: a, type: dns, query: a.test, parallel_aaaa: true}\n");
  ASSERT_THAT(errors_of(ok), IsEmpty());
  EXPECT_TRUE(ok.config->targets[0].parallel_aaaa);
  auto bad =
      load("targets:\n  - {name: a, type: dns, query: a.test, record: SRV, parallel_aaaa: true}\n");
  EXPECT_THAT(errors_of(bad),
              ElementsAre("c.yaml:2:69: 'parallel_aaaa' needs record A (it sends AAAA beside "
                          "it), not SRV"));
}

TEST(HttpMethodConfig, PutIsAllowedOthersAreNot) {
  auto bad = load("targets:\n  - {name: a, type: http, url: http://h.test/, method: POST}\n");
  EXPECT_THAT(errors_of(bad),
              ElementsAre("c.yaml:2:56: 'method' must be GET, HEAD or PUT, not 'POST'"));
}

}  // namespace
}  // namespace reachprobe::config
