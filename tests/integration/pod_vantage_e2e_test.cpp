// The pod vantage against the node's, in network namespaces: this namespace is the node
// (host network, where the node DaemonSet runs), and a pod namespace sits behind it as a
// CNI sets one up: a veth pair, the pod's default route via the node, the node forwarding
// (on these veths only) and the other hosts routing the pod's IP back through the node. So
// every packet of the pod crosses one router the node's own packets do not, as on EKS.
//
// What stands in for what:
// - IMDS: FakeImds on a host of its own, one hop from the node, answering token PUTs with
//   IP TTL 1 (HttpPutResponseHopLimit 1): the node gets its token, the pod's answer dies at
//   the node (the TCP handshake works for both);
// - the control plane: a FakeApiServer per vantage (each knows one pod), on hosts of their
//   own, dialing the node's and the pod's IP through the pods proxy;
// - the pods' security group: nftables on the pod's veth (the pod's input) dropping 9443
//   from the control plane; the node's security group allows it;
// - a path policy forbids: a database host that accepts (a security group opened too wide).
// The pod's targets are the shipped ones of config/eks-pod.yaml (imds, webhook-inbound),
// as written there, with their default expectations.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/fake_imds.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/port_free.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"
#include "tests/support/wait.hpp"

namespace reachprobe::test {
namespace {

using namespace std::chrono_literals;
namespace pt = boost::property_tree;

const std::string kBinary = reachprobe_binary();
const std::string kSourceDir = source_dir();
const std::string kToken = "reachprobe-service-account-token";
const std::string kNamespace = "reachprobe";

void must(const std::vector<std::string>& argv) {
  auto r = run_command(argv, 10s);
  if (r.exit_code != 0) {
    std::string line;
    for (const auto& a : argv) line += a + " ";
    throw std::runtime_error(line + "failed: " + r.err);
  }
}

// The targets of config/eks-pod.yaml named `names`, as a YAML list written there.
std::string shipped_pod_targets(const std::vector<std::string>& names) {
  const auto root = YAML::LoadFile(kSourceDir + "/config/eks-pod.yaml");
  YAML::Emitter out;
  out << YAML::BeginSeq;
  for (const auto& name : names) {
    bool found = false;
    for (const auto& t : root["targets"]) {
      if (t["name"].as<std::string>() != name) continue;
      out << t;
      found = true;
    }
    if (!found) throw std::runtime_error("config/eks-pod.yaml has no target " + name);
  }
  out << YAML::EndSeq;
  return std::string(out.c_str()) + "\n";
}

struct Row {
  std::string result;
  bool success = false;
  std::string expect;
  std::string vantage;
  std::string message;
  std::string hint;
};

std::map<std::string, Row> rows_by_target(const std::string& json) {
  std::map<std::string, Row> rows;
  pt::ptree tree;
  std::istringstream in(json);
  pt::read_json(in, tree);
  for (const auto& [_, r] : tree.get_child("results")) {
    rows[r.get<std::string>("target")] = {
        r.get<std::string>("result"),      r.get<bool>("success"),
        r.get<std::string>("expect"),      r.get<std::string>("vantage"),
        r.get<std::string>("message", ""), r.get<std::string>("hint", "")};
  }
  return rows;
}

class PodVantageE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    // The node's webhook-inbound listens on 9443 of this namespace, as on a node.
    if (!port_free(9443)) GTEST_SKIP() << "port 9443 is taken on this machine";
    write_file(dir_ / "token", kToken + "\n");
    write_file(dir_ / "ca.crt", pki_.ca_pem());

    // The pod: its default route via the node, the node forwarding for it, and every host
    // the pod talks to routing the pod's IP back through the node.
    pod_.exec({"ip", "route", "add", "default", "via", pod_.gateway_address()});
    forward(pod_);
    for (const TestHost* host : {&imds_host_, &cp_pod_, &database_}) {
      host->exec({"ip", "route", "add", pod_.address() + "/32", "via", host->gateway_address()});
      forward(*host);
    }

    FakeImdsOptions imds;
    imds.netns = imds_host_.name();
    imds.listen_address = imds_host_.address();
    imds.put_answer_ttl = 1;
    imds_ = std::make_unique<FakeImds>(imds);

    node_apiserver_ = start_apiserver(cp_node_, cp_node_.gateway_address(), "reachprobe-n0d3a");
    pod_apiserver_ = start_apiserver(cp_pod_, pod_.address(), "reachprobe-pod-p0d3a");
    database_5432_ = std::make_unique<ListenerInHost>(database_, 5432);
  }

  // Lets the node forward packets that arrive from `host` (per interface: nothing else of
  // this machine starts forwarding). Gone with the host's veth.
  static void forward(const TestHost& host) {
    must({"sysctl", "-qw", "net.ipv4.conf." + host.root_interface() + ".forwarding=1"});
  }

  std::unique_ptr<FakeApiServer> start_apiserver(const TestHost& host, const std::string& pod_ip,
                                                 const std::string& pod_name) {
    FakeApiServerOptions o;
    o.certificate = pki_.issue({host.address()});
    o.listen_address = host.address();
    o.netns = host.name();
    o.token = kToken;
    o.namespace_name = kNamespace;
    o.pod_name = pod_name;
    o.pod_ip = pod_ip;
    o.dial_timeout = 1s;
    return std::make_unique<FakeApiServer>(o);
  }

  std::string kubernetes_section(const FakeApiServer& api, const std::string& pod_name,
                                 const std::string& pod_ip) const {
    return "kubernetes:\n  api_server: " + api.url() +
           "\n  token_file: " + (dir_ / "token").string() +
           "\n  ca_file: " + (dir_ / "ca.crt").string() + "\n  namespace: " + kNamespace +
           "\n  pod_name: " + pod_name + "\n  pod_ip: " + pod_ip + "\n";
  }

  // The pod DaemonSet's config: `vantage: pod` and the shipped imds and webhook-inbound
  // targets, plus a path that policy forbids.
  std::string pod_config() const {
    return "vantage: pod\ninterval: 10s\ntimeout: 3s\n" +
           kubernetes_section(*pod_apiserver_, "reachprobe-pod-p0d3a", pod_.address()) +
           "targets:\n" + shipped_pod_targets({"imds", "webhook-inbound"}) +
           "- name: forbidden-db\n  type: tcp\n  hosts: [" + database_.address() +
           "]\n  ports: [5432]\n  expect: closed\n";
  }

  // The node DaemonSet's: the node needs its IMDS token (an open path) and the control
  // plane's connection on 9443.
  std::string node_config() const {
    return "interval: 10s\ntimeout: 3s\n" +
           kubernetes_section(*node_apiserver_, "reachprobe-n0d3a", cp_node_.gateway_address()) +
           "targets:\n"
           "- name: imds\n  type: http\n  url: " +
           imds_->url() +
           "/latest/api/token\n  method: PUT\n  headers: {X-aws-ec2-metadata-token-ttl-seconds: "
           "\"60\"}\n  expect_status: [200]\n"
           "- name: webhook-inbound\n  type: inbound\n  ports: [9443]\n";
  }

  std::vector<std::string> pod_env() const {
    return {"POD_NAMESPACE=" + kNamespace, "POD_NAME=reachprobe-pod-p0d3a",
            "POD_IP=" + pod_.address(), "NODE_NAME=node-a",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT=" + imds_->url()};
  }

  CommandResult check_pod(const std::vector<std::string>& extra = {}) {
    write_file(dir_ / "pod.yaml", pod_config());
    std::vector<std::string> argv = {"ip",       "netns", "exec",     pod_.name(),
                                     kBinary,    "check", "--config", (dir_ / "pod.yaml").string(),
                                     "--format", "json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_command(argv, 60s, pod_env());
  }

  CommandResult check_node() {
    write_file(dir_ / "node.yaml", node_config());
    return run_command(
        {kBinary, "check", "--config", (dir_ / "node.yaml").string(), "--format", "json"}, 60s,
        {"NODE_NAME=node-a"});
  }

  TempDir dir_{"reachprobe-pod-vantage"};
  TestPki pki_;
  TestHost pod_, imds_host_, cp_node_, cp_pod_, database_;
  std::unique_ptr<FakeImds> imds_;
  std::unique_ptr<FakeApiServer> node_apiserver_, pod_apiserver_;
  std::unique_ptr<ListenerInHost> database_5432_;
};

// IMDS with hop limit 1: the node gets its token, the pod's PUT times out, which is what the
// pod DaemonSet's shipped expectation (closed) asks for.
TEST_F(PodVantageE2eTest, ImdsWithHopLimitOneIsOpenFromTheNodeAndClosedFromThePod) {
  auto node = check_node();
  std::cout << node.out;
  EXPECT_EQ(node.exit_code, 0) << node.out << node.err;
  auto node_rows = rows_by_target(node.out);
  EXPECT_EQ(node_rows["imds"].result, "ok") << node.out;
  EXPECT_TRUE(node_rows["imds"].success);
  EXPECT_EQ(node_rows["imds"].vantage, "node");
  EXPECT_EQ(imds_->token_requests(), 1u);

  auto pod = check_pod({"--target", "imds"});
  std::cout << pod.out;
  EXPECT_EQ(pod.exit_code, 0) << pod.out << pod.err;
  auto pod_rows = rows_by_target(pod.out);
  const Row& imds = pod_rows["imds"];
  EXPECT_EQ(imds.result, "timeout") << pod.out;  // the word stays: it was dropped
  EXPECT_TRUE(imds.success) << pod.out;
  EXPECT_EQ(imds.expect, "closed");
  EXPECT_EQ(imds.vantage, "pod");
  // The PUT reached IMDS (TCP works with hop limit 1 too): only its answer was lost.
  EXPECT_EQ(imds_->token_requests(), 2u);
  EXPECT_NE(pod.out.find("\"ok\": 1, \"failed\": 0"), std::string::npos) << pod.out;
}

// The pods' security group drops 9443 from the control plane: the pod's inbound fails, the
// node's works, and the hint names the pod-side fix.
TEST_F(PodVantageE2eTest, APodSecurityGroupDroppingTheWebhookPortFailsOnlyThePodVantage) {
  pod_.nft("table inet pod_sg {\n chain input { type filter hook input priority 0; ip saddr " +
           cp_pod_.address() + " tcp dport 9443 drop; }\n}\n");
  auto node = check_node();
  EXPECT_EQ(node.exit_code, 0) << node.out << node.err;
  EXPECT_EQ(rows_by_target(node.out)["webhook-inbound"].result, "ok") << node.out;

  auto pod = check_pod({"--target", "webhook-inbound"});
  std::cout << pod.out;
  EXPECT_EQ(pod.exit_code, 1) << pod.out << pod.err;
  const Row inbound = rows_by_target(pod.out)["webhook-inbound"];
  EXPECT_EQ(inbound.result, "timeout") << pod.out;
  EXPECT_FALSE(inbound.success);
  EXPECT_NE(inbound.hint.find("the control plane cannot reach pods on node node-a on TCP 9443"),
            std::string::npos)
      << inbound.hint;
  EXPECT_NE(inbound.hint.find("the pods' security group (the ENIConfig's securityGroups with "
                              "custom networking, a SecurityGroupPolicy with security groups "
                              "for pods)"),
            std::string::npos)
      << inbound.hint;
  EXPECT_NE(inbound.hint.find("or the CNI"), std::string::npos) << inbound.hint;

  // The table says the same, and --remediation puts the rule on the pods' group.
  auto table = run_command(
      {"ip", "netns", "exec", pod_.name(), kBinary, "check", "--config",
       (dir_ / "pod.yaml").string(), "--target", "webhook-inbound", "--remediation", "aws-cli"},
      60s, pod_env());
  std::cout << table.out;
  EXPECT_EQ(table.exit_code, 1) << table.out << table.err;
  EXPECT_NE(table.out.find("SecurityGroupPolicy"), std::string::npos) << table.out;

  // The pods' security group allows it: the pod's inbound is ok.
  pod_.flush_firewall();
  auto fixed = check_pod({"--target", "webhook-inbound"});
  EXPECT_EQ(fixed.exit_code, 0) << fixed.out << fixed.err;
  EXPECT_EQ(rows_by_target(fixed.out)["webhook-inbound"].result, "ok") << fixed.out;
}

// A path that must be closed and accepts is `open` in check, and in the daemon's metrics
// (success 0, result "open"), every series of the pod DaemonSet carrying vantage="pod".
TEST_F(PodVantageE2eTest, AClosedPathThatAcceptsIsOpenInCheckAndMetrics) {
  auto pod = check_pod({"--target", "forbidden-db"});
  std::cout << pod.out;
  EXPECT_EQ(pod.exit_code, 1) << pod.out << pod.err;
  const Row db = rows_by_target(pod.out)["forbidden-db"];
  EXPECT_EQ(db.result, "open");
  EXPECT_FALSE(db.success);
  EXPECT_EQ(db.expect, "closed");
  EXPECT_NE(db.message.find("must be closed (expect: closed) but accepted a connection"),
            std::string::npos)
      << db.message;

  ChildProcess daemon({"ip", "netns", "exec", pod_.name(), kBinary, "run", "--config",
                       (dir_ / "pod.yaml").string(), "--listen", pod_.address() + ":9754"},
                      pod_env());
  const std::string db_labels = "dst=\"" + database_.address() +
                                ":5432\",target=\"forbidden-db\",type=\"tcp\",vantage=\"pod\"";
  std::string metrics;
  auto db_value = [&](const std::string& family, const std::string& extra) {
    std::string with = db_labels;
    if (!extra.empty()) with.insert(with.find(",target="), "," + extra);
    return sample(metrics, family + "{" + with + "}");
  };
  ASSERT_TRUE(wait_until(
      [&] {
        metrics = http_get(pod_.address(), 9754, "/metrics").body;
        const auto imds_ok = metrics.find("target=\"imds\",type=\"http\",vantage=\"pod\"} 1");
        return db_value("reachprobe_probe_success", "").has_value() && imds_ok != std::string::npos;
      },
      20s, 100ms))
      << metrics << daemon.stderr_text();
  EXPECT_EQ(db_value("reachprobe_probe_success", ""), 0) << metrics;
  // The imds probe's timeout may outlast the 10 s interval, so the database may have been
  // probed more than once by now: every probe of it is `open`, none `ok`.
  EXPECT_GE(db_value("reachprobe_probes_total", "result=\"open\"").value_or(0), 1) << metrics;
  EXPECT_EQ(db_value("reachprobe_probes_total", "result=\"ok\""), 0) << metrics;
  // Every series of this process is the pod's.
  std::istringstream lines(metrics);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.starts_with('#')) continue;
    EXPECT_NE(line.find("vantage=\"pod\""), std::string::npos) << line;
  }
  // The state change is logged once, with its result.
  ASSERT_TRUE(daemon.wait_for_stderr("endpoint failing target=forbidden-db", 10s))
      << daemon.stderr_text();
  EXPECT_NE(daemon.stderr_text().find("result=open"), std::string::npos) << daemon.stderr_text();
}

}  // namespace
}  // namespace reachprobe::test
