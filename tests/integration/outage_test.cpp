// The motivating outage's network failures, on a small simulated cluster: hosts are
// network namespaces on 198.18.0.0/15 joined to this one by veth pairs (this namespace is
// node-a, where reachprobe runs), security groups are nftables rules in the hosts, and
// names resolve through dnsmasq on a DNS host. Asserted through `reachprobe check
// --format json` and a `reachprobe run` daemon's /metrics, as an operator would look.
//
// Where the drop rules live: a security group filters what enters the host it guards, so
// "node -> control plane 9443 dropped" is a rule on the control plane's input, and the
// SYN from node-a vanishes as it would at an AWS security group.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>

#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/fake_imds.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/wait.hpp"

namespace reachprobe::test {
namespace {

using namespace std::chrono_literals;
namespace pt = boost::property_tree;

const std::string kBinary = reachprobe_binary();
const std::string kSourceDir = source_dir();

std::string drop_input(const std::string& match) {
  return "table inet security_group {\n chain input { type filter hook input priority 0; " + match +
         " drop; }\n}\n";
}

// (target, endpoint) -> result, message and hint, from `check --format json`.
struct Row {
  std::string result;
  std::string message;
  std::string hint;
};
std::map<std::pair<std::string, std::string>, Row> rows_of(const std::string& json) {
  std::map<std::pair<std::string, std::string>, Row> rows;
  pt::ptree tree;
  std::istringstream in(json);
  pt::read_json(in, tree);
  for (const auto& [_, r] : tree.get_child("results")) {
    rows[{r.get<std::string>("target"), r.get<std::string>("endpoint")}] = {
        r.get<std::string>("result"), r.get<std::string>("message"), r.get<std::string>("hint")};
  }
  return rows;
}

class OutageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    if (Dnsmasq::binary().empty()) GTEST_SKIP() << "dnsmasq is not installed (dnsmasq-base)";
  }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  TempDir dir_{"reachprobe-outage"};
};

TEST_F(OutageTest, EveryFailureOfTheOutageIsClassifiedAndExplained) {
  TestHost control_plane, sts, dns, dns_blocked, am_pod_1, am_pod_2, am_service, node_b;
  // 1. Conservative node security group: 443 and 9443 listen on the control plane, but
  //    9443 is dropped for the node; nothing listens on 10250.
  ListenerInHost cp_443(control_plane, 443), cp_9443(control_plane, 9443);
  control_plane.nft(drop_input("tcp dport 9443"));
  // 2. STS resolves through the cluster's DNS; its inbound 443 is dropped.
  ListenerInHost sts_443(sts, 443);
  sts.nft(drop_input("tcp dport 443"));
  // 3. Alertmanager: two pods behind the headless name, the second drops 9093 from the
  //    node; the ClusterIP-like address accepts.
  ListenerInHost am_1(am_pod_1, 9093), am_2(am_pod_2, 9093), am_svc(am_service, 9093);
  am_pod_2.nft(drop_input("tcp dport 9093"));
  // Node b, for node -> node.
  ListenerInHost node_b_9754(node_b, 9754);
  Dnsmasq cluster_dns(
      dns.name(), dns.address(),
      {"--local=/test/", "--host-record=sts.eu-west-1.amazonaws.test," + sts.address(),
       "--host-record=alertmanager-operated.monitoring.svc.cluster.test," + am_pod_1.address(),
       "--host-record=alertmanager-operated.monitoring.svc.cluster.test," + am_pod_2.address(),
       "--host-record=alertmanager.monitoring.svc.cluster.test," + am_service.address(),
       "--host-record=node-b.cluster.test," + node_b.address(),
       "--txt-record=txt-only.cluster.test,only-text"});
  // 4. A DNS server whose port 53 is dropped.
  Dnsmasq unreachable_dns(dns_blocked.name(), dns_blocked.address(), {"--local=/test/"});
  dns_blocked.nft(drop_input("meta l4proto { tcp, udp } th dport 53"));
  // 5. An explicit reject: no route.
  UnreachableRoute rejected;

  const auto config = write(
      "outage.yaml",
      "interval: 10s\ntimeout: 1s\ndns:\n  servers: [" + dns.address() +
          "]\ntargets:\n"
          "  - name: control-plane\n    type: tcp\n    hosts: [" +
          control_plane.address() +
          "]\n    ports: [443, 9443, 10250]\n    labels: {group: control-plane}\n"
          "  - name: sts\n    type: tcp  # the failure class is decided at the TCP connect\n"
          "    hosts: [sts.eu-west-1.amazonaws.test.]\n    ports: [443]\n    labels: {group: aws}\n"
          "  - name: alertmanager-pods\n    type: dns\n"
          "    query: alertmanager-operated.monitoring.svc.cluster.test.\n    connect_port: 9093\n"
          "    labels: {group: monitoring}\n"
          "  - name: alertmanager-service\n    type: tcp\n"
          "    hosts: [alertmanager.monitoring.svc.cluster.test.]\n    ports: [9093]\n"
          "    labels: {group: monitoring}\n"
          "  - name: node-b\n    type: tcp\n    hosts: [node-b.cluster.test.]\n    ports: [9754]\n"
          "  - name: typo\n    type: dns\n    query: "
          "alertmanger-operated.monitoring.svc.cluster.test.\n"
          "  - name: wrong-record\n    type: dns\n    query: txt-only.cluster.test.\n    record: "
          "A\n"
          "  - name: blocked-dns\n    type: dns\n    query: anything.cluster.test.\n    server: " +
          dns_blocked.address() +
          "\n"
          "  - name: rejected\n    type: tcp\n    hosts: [" +
          rejected.address() + "]\n    ports: [443]\n");

  // The table, as an operator on node-a reads it (kept in the log for the record).
  auto table = run_command({kBinary, "check", "--config", config}, 30s);
  std::cout << table.out;
  EXPECT_EQ(table.exit_code, 1) << table.err;

  auto json = run_command({kBinary, "check", "--config", config, "--format", "json"}, 30s);
  EXPECT_EQ(json.exit_code, 1) << json.err;
  auto rows = rows_of(json.out);
  auto result = [&](const std::string& target, const std::string& endpoint) {
    auto it = rows.find({target, endpoint});
    return it == rows.end() ? std::string("(no row)") : it->second.result;
  };
  const std::string cp = control_plane.address();
  EXPECT_EQ(result("control-plane", cp + ":443"), "ok");
  EXPECT_EQ(result("control-plane", cp + ":9443"), "timeout");
  EXPECT_EQ(result("control-plane", cp + ":10250"), "refused");
  EXPECT_EQ(result("sts", "sts.eu-west-1.amazonaws.test.:443"), "timeout");
  EXPECT_EQ(result("alertmanager-pods", "alertmanager-operated.monitoring.svc.cluster.test."),
            "ok");
  EXPECT_EQ(result("alertmanager-pods", am_pod_1.address() + ":9093"), "ok");
  EXPECT_EQ(result("alertmanager-pods", am_pod_2.address() + ":9093"), "timeout");
  EXPECT_EQ(result("alertmanager-service", "alertmanager.monitoring.svc.cluster.test.:9093"), "ok");
  EXPECT_EQ(result("node-b", "node-b.cluster.test.:9754"), "ok");
  EXPECT_EQ(result("typo", "alertmanger-operated.monitoring.svc.cluster.test."), "nxdomain");
  EXPECT_EQ(result("wrong-record", "txt-only.cluster.test."), "no_answer");
  EXPECT_EQ(result("blocked-dns", "anything.cluster.test."), "dns_timeout");
  EXPECT_EQ(result("rejected", rejected.address() + ":443"), "unreachable");
  // 6. The hint for the dropped webhook port names the rule to add.
  const auto& webhook = rows[{"control-plane", cp + ":9443"}];
  EXPECT_NE(webhook.hint.find("the node security group must allow TCP 9443 inbound from the "
                              "cluster security group"),
            std::string::npos)
      << webhook.hint;
  EXPECT_NE(webhook.message.find("TCP SYN unanswered"), std::string::npos) << webhook.message;
}

// The seed's three failures (webhook 9443 dropped, STS 443 dropped, one Alertmanager pod
// dropping 9093 from this node) and a refused kubelet port, with this node's facts from a
// stand-in IMDS on loopback: `check --remediation` prints the rules with the stand-in's
// security-group ids. The Terraform is parsed as HCL2 by a real parser (npm hcl2-parser);
// the aws-cli commands are compared exactly. AWS_REGION is unset: the STS name takes its
// region from IMDS.
TEST_F(OutageTest, RemediationIsTheRulesThatFixTheOutageWithTheNodesGroupIds) {
  const std::string hcl2json = kSourceDir + "/deploy/tools/hcl2json.mjs";
  if (run_command({"/bin/sh", "-c", "command -v node"}, 10s).exit_code != 0 ||
      !std::filesystem::exists(kSourceDir + "/deploy/tools/node_modules/hcl2-parser")) {
    GTEST_SKIP()
        << "node or deploy/tools/node_modules/hcl2-parser missing (scripts/install-deps.sh)";
  }
  TestHost control_plane, sts, dns, am_pod_1, am_pod_2;
  ListenerInHost cp_443(control_plane, 443), cp_9443(control_plane, 9443);
  control_plane.nft(drop_input("tcp dport 9443"));
  ListenerInHost sts_443(sts, 443);
  sts.nft(drop_input("tcp dport 443"));
  ListenerInHost am_1(am_pod_1, 9093), am_2(am_pod_2, 9093);
  am_pod_2.nft(drop_input("tcp dport 9093"));
  Dnsmasq cluster_dns(
      dns.name(), dns.address(),
      {"--local=/test/", "--host-record=sts.eu-west-1.amazonaws.test," + sts.address(),
       "--host-record=alertmanager-operated.monitoring.svc.cluster.test," + am_pod_1.address(),
       "--host-record=alertmanager-operated.monitoring.svc.cluster.test," + am_pod_2.address()});
  FakeImds imds;  // VPC 198.18.0.0/15: the test hosts are in it, as nodes and pods would be
  const auto config =
      write("remediation.yaml",
            "interval: 10s\ntimeout: 1s\naws: {imds: true}\ndns:\n  servers: [" + dns.address() +
                "]\ntargets:\n"
                "  - name: control-plane\n    type: tcp\n    hosts: [" +
                control_plane.address() +
                "]\n    ports: [443, 9443, 10250]\n"
                "  - name: sts\n    type: tcp\n    hosts: [\"sts.${AWS_REGION}.amazonaws.test.\"]\n"
                "    ports: [443]\n"
                "  - name: alertmanager-pods\n    type: dns\n"
                "    query: alertmanager-operated.monitoring.svc.cluster.test.\n    connect_port: "
                "9093\n");
  auto check = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {"env",   "-u",       "AWS_REGION", kBinary,
                                     "check", "--config", config};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, 30s, {imds.environment()});
  };

  auto terraform = check({"--remediation", "terraform"});
  std::cout << terraform.out;
  ASSERT_EQ(terraform.exit_code, 1) << terraform.err;
  EXPECT_GE(imds.token_requests(), 1u);
  const auto tf_path = write("fix.tf", terraform.out);
  auto parsed = run_command({"/bin/sh", "-c", "node '" + hcl2json + "' < '" + tf_path + "'"}, 30s);
  ASSERT_EQ(parsed.exit_code, 0) << parsed.err << "\n" << terraform.out;
  pt::ptree hcl;
  std::istringstream hcl_in(parsed.out);
  pt::read_json(hcl_in, hcl);
  const auto& module = hcl.get_child("module.eks").front().second;
  const auto& node_rules = module.get_child("node_security_group_additional_rules");
  EXPECT_EQ(node_rules.size(), 3u) << parsed.out;
  const auto& webhook = node_rules.get_child("ingress_cluster_9443");
  EXPECT_EQ(webhook.get<std::string>("type"), "ingress");
  EXPECT_EQ(webhook.get<std::string>("protocol"), "tcp");
  EXPECT_EQ(webhook.get<int>("from_port"), 9443);
  EXPECT_EQ(webhook.get<int>("to_port"), 9443);
  EXPECT_EQ(webhook.get<std::string>("source_cluster_security_group"), "true");
  const auto& node_to_node = node_rules.get_child("ingress_self_9093");
  EXPECT_EQ(node_to_node.get<std::string>("self"), "true");
  EXPECT_EQ(node_to_node.get<int>("from_port"), 9093);
  const auto& sts_rule = node_rules.get_child("egress_sts_443");
  EXPECT_EQ(sts_rule.get<std::string>("type"), "egress");
  EXPECT_EQ(sts_rule.get_child("cidr_blocks").front().second.get_value<std::string>(),
            "198.18.0.0/15");
  const auto& plain = hcl.get_child("resource.aws_security_group_rule");
  const auto& plain_webhook = plain.get_child("reachprobe_ingress_cluster_9443").front().second;
  EXPECT_EQ(plain_webhook.get<std::string>("security_group_id"), "sg-0a1b2c3d4e5f60718");
  EXPECT_EQ(plain_webhook.get<std::string>("source_security_group_id"), "sg-0fedcba9876543210");
  EXPECT_EQ(plain.get_child("reachprobe_ingress_self_9093").front().second.get<std::string>("self"),
            "true");
  // The refused kubelet port gets no rule, and a sentence why.
  EXPECT_NE(terraform.out.find("# - control-plane " + control_plane.address() +
                               ":10250 refused: the path is open"),
            std::string::npos)
      << terraform.out;
  EXPECT_EQ(terraform.out.find("10250 = {"), std::string::npos) << terraform.out;

  auto cli = check({"--remediation", "aws-cli"});
  std::cout << cli.out;
  ASSERT_EQ(cli.exit_code, 1) << cli.err;
  std::vector<std::string> commands;
  std::istringstream cli_in(cli.out);
  for (std::string line; std::getline(cli_in, line);) {
    if (line.rfind("aws ec2 ", 0) == 0) commands.push_back(line);
  }
  const std::vector<std::string> expected = {
      "aws ec2 authorize-security-group-ingress --region eu-west-1 --group-id "
      "sg-0a1b2c3d4e5f60718 --ip-permissions "
      "'IpProtocol=tcp,FromPort=9443,ToPort=9443,UserIdGroupPairs=[{GroupId=sg-0fedcba9876543210,"
      "Description=\"reachprobe: control plane to node TCP 9443 (admission webhook)\"}]'",
      "aws ec2 authorize-security-group-egress --region eu-west-1 --group-id "
      "sg-0a1b2c3d4e5f60718 --ip-permissions "
      "'IpProtocol=tcp,FromPort=443,ToPort=443,IpRanges=[{CidrIp=198.18.0.0/15,"
      "Description=\"reachprobe: node to STS TCP 443\"}]'",
      "aws ec2 authorize-security-group-ingress --region eu-west-1 --group-id "
      "sg-0a1b2c3d4e5f60718 --ip-permissions "
      "'IpProtocol=tcp,FromPort=9093,ToPort=9093,UserIdGroupPairs=[{GroupId=sg-0a1b2c3d4e5f60718,"
      "Description=\"reachprobe: node to node TCP 9093\"}]'"};
  EXPECT_EQ(commands, expected) << cli.out;

  // The JSON report carries the same rules.
  auto json = check({"--format", "json"});
  ASSERT_EQ(json.exit_code, 1) << json.err;
  pt::ptree report;
  std::istringstream json_in(json.out);
  pt::read_json(json_in, report);
  EXPECT_EQ(report.get_child("remediation.rules").size(), 3u) << json.out;
  EXPECT_EQ(report.get<std::string>("remediation.node.subnet_id"), "subnet-0aa11bb22cc33dd44");
  const auto rows = rows_of(json.out);
  const auto& hint = rows.at({"control-plane", control_plane.address() + ":9443"}).hint;
  EXPECT_NE(hint.find("add to sg-0a1b2c3d4e5f60718"), std::string::npos) << hint;

  // As the README shows them: each case on its own.
  std::cout << "[readme] dropped 9443:\n"
            << check({"--target", "control-plane", "--remediation", "terraform"}).out
            << "[readme] node -> node:\n"
            << check({"--target", "alertmanager-pods", "--remediation", "terraform"}).out;
}

// 2, with the daemon: STS is dropped, then the rule goes; the endpoint recovers within
// interval + timeout + 1 s, and each state change is logged once.
TEST_F(OutageTest, TheDaemonSeesStsComeBackWhenTheRuleIsRemoved) {
  TestHost sts, dns;
  ListenerInHost sts_443(sts, 443);
  sts.nft(drop_input("tcp dport 443"));
  Dnsmasq cluster_dns(
      dns.name(), dns.address(),
      {"--local=/test/", "--host-record=sts.eu-west-1.amazonaws.test," + sts.address()});
  const auto port = free_tcp_port();
  constexpr auto kInterval = 1s;
  constexpr auto kTimeout = 500ms;
  const auto config =
      write("sts.yaml", "interval: 1s\ntimeout: 500ms\nlisten: 127.0.0.1:" + std::to_string(port) +
                            "\ndns:\n  servers: [" + dns.address() +
                            "]\ntargets:\n  - name: sts\n    type: tcp\n    hosts: "
                            "[sts.eu-west-1.amazonaws.test.]\n    ports: [443]\n");
  ChildProcess daemon({kBinary, "run", "--config", config});
  const std::string series =
      "reachprobe_probe_success{dst=\"sts.eu-west-1.amazonaws.test.:443\",target=\"sts\","
      "type=\"tcp\"}";
  auto success = [&] { return sample(http_get("127.0.0.1", port, "/metrics").body, series); };
  ASSERT_TRUE(wait_until([&] { return success() == std::optional<double>(0); }, 10s))
      << daemon.stderr_text();

  sts.flush_firewall();
  const auto removed = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return success() == std::optional<double>(1); }, 10s))
      << daemon.stderr_text();
  const auto took = std::chrono::steady_clock::now() - removed;
  std::cout << "[outage] sts recovered "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms after the rule was removed\n";
  EXPECT_LE(took, kInterval + kTimeout + 1s);

  // Let a few more probes pass: the state changes are logged once, not per probe.
  const auto probes = [&] {
    return sample(http_get("127.0.0.1", port, "/metrics").body,
                  "reachprobe_probes_total{dst=\"sts.eu-west-1.amazonaws.test.:443\","
                  "result=\"ok\",target=\"sts\",type=\"tcp\"}")
        .value_or(0);
  };
  const double seen = probes();
  ASSERT_TRUE(wait_until([&] { return probes() >= seen + 2; }, 10s));
  const std::string log = daemon.stderr_text();
  auto count = [&](const std::string& needle) {
    int n = 0;
    for (auto p = log.find(needle); p != std::string::npos; p = log.find(needle, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("endpoint failing"), 1) << log;
  EXPECT_EQ(count("endpoint recovered"), 1) << log;
}

}  // namespace
}  // namespace reachprobe::test
