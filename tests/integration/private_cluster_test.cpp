// A private cluster's paths, with a real DNS server (the test's responder on loopback)
// answering AWS names with test hosts in network namespaces and the stand-in IMDS saying
// which addresses are the VPC's: the interface-endpoint targets that `aws: {private_endpoints:
// true}` adds are hinted by where their names resolve, and the kubelet's own path to the
// API server (the cluster endpoint's name from its kubeconfig) fails on its own while the
// ClusterIP path works. No name is ever asked of the system resolver: every config names
// the responder in dns.servers.
#include <gtest/gtest.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/dns_responder.hpp"
#include "tests/support/fake_imds.hpp"
#include "tests/support/helm.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/temp_dir.hpp"

namespace reachprobe::test {
namespace {

using namespace std::chrono_literals;
namespace pt = boost::property_tree;

const std::string kBinary = reachprobe_binary();
const std::string kSourceDir = source_dir();
const std::string kEndpointName =
    "0123456789abcdef0123456789abcdef.gr7.eu-west-1.eks.amazonaws.com";
const std::string kDropTcp =
    "table inet sg {\n chain input { type filter hook input priority 0; meta l4proto tcp drop; "
    "}\n}\n";

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

struct Row {
  std::string result;
  std::string hint;
  std::string address;
};

std::map<std::string, Row> rows_by_target(const std::string& json, pt::ptree* report = nullptr) {
  pt::ptree tree;
  std::istringstream in(json);
  pt::read_json(in, tree);
  std::map<std::string, Row> rows;
  for (const auto& [_, r] : tree.get_child("results")) {
    rows[r.get<std::string>("target")] = {r.get<std::string>("result"), r.get<std::string>("hint"),
                                          r.get<std::string>("address", "")};
  }
  if (report) *report = tree;
  return rows;
}

class PrivateClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  }
  std::string write(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  CommandResult check(const std::string& config, const FakeImds& imds) {
    return run_command({kBinary, "check", "--config", config, "--format", "json"}, 30s,
                       {imds.environment()});
  }
  DnsResponder dns_;
  TempDir dir_{"reachprobe-private"};
};

TEST_F(PrivateClusterTest, EndpointTargetsAreHintedByWhereTheirNamesResolve) {
  TestHost in_vpc, outside, local;
  in_vpc.nft(kDropTcp);
  outside.nft(kDropTcp);
  ListenerInHost listener(local, 0);
  for (const char* name :
       {"api.ecr.eu-west-1.amazonaws.com", "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        "ec2.eu-west-1.amazonaws.com", "eks.eu-west-1.amazonaws.com"}) {
    dns_.set(name, DnsRule::answer({in_vpc.address()}));
  }
  dns_.set("s3.eu-west-1.amazonaws.com", DnsRule::answer({outside.address()}));
  dns_.set("sts.eu-west-1.amazonaws.com", DnsRule::answer({outside.address()}));
  FakeImdsOptions options;
  options.vpc_cidrs = {in_vpc.address() + "/32", local.address() + "/32"};
  FakeImds imds(options);  // region eu-west-1, account 123456789012
  const auto config =
      write("private.yaml", "interval: 5s\ntimeout: 1s\ndns: {servers: [\"" + dns_.server() +
                                "\"]}\naws: {imds: true, private_endpoints: true}\ntargets:\n"
                                "  - {name: local, type: tcp, hosts: [" +
                                local.address() + "], ports: [" + std::to_string(listener.port()) +
                                "]}\n");
  auto r = check(config, imds);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  pt::ptree report;
  std::map<std::string, Row> rows;
  ASSERT_NO_THROW(rows = rows_by_target(r.out, &report)) << r.out << r.err;
  EXPECT_EQ(rows["local"].result, "ok");
  for (const char* inside : {"aws-ecr-api", "aws-ecr-dkr", "aws-ec2", "aws-eks"}) {
    const auto& row = rows[inside];
    EXPECT_EQ(row.result, "timeout") << inside;
    EXPECT_EQ(row.address, in_vpc.address()) << inside;
    EXPECT_TRUE(has(row.hint, "inside the VPC")) << inside << ": " << row.hint;
    EXPECT_TRUE(has(row.hint,
                    "endpoint's security group must allow TCP 443 from the node "
                    "security group sg-0a1b2c3d4e5f60718"))
        << inside << ": " << row.hint;
  }
  EXPECT_TRUE(has(rows["aws-ecr-dkr"].hint, "com.amazonaws.eu-west-1.ecr.dkr"))
      << rows["aws-ecr-dkr"].hint;
  EXPECT_EQ(rows["aws-sts"].result, "timeout");
  EXPECT_TRUE(has(rows["aws-sts"].hint, "outside the VPC")) << rows["aws-sts"].hint;
  EXPECT_TRUE(has(rows["aws-sts"].hint,
                  "no interface endpoint for com.amazonaws.eu-west-1.sts with private DNS on"))
      << rows["aws-sts"].hint;
  EXPECT_TRUE(has(rows["aws-s3"].hint, "gateway endpoint")) << rows["aws-s3"].hint;
  // Every name was asked of the responder, none elsewhere.
  EXPECT_GE(dns_.query_count("api.ecr.eu-west-1.amazonaws.com"), 1);
  EXPECT_GE(dns_.query_count("123456789012.dkr.ecr.eu-west-1.amazonaws.com"), 1);
  EXPECT_GE(dns_.query_count("s3.eu-west-1.amazonaws.com"), 1);
  // No security-group rule on the node for any of them: the endpoints' groups and routes.
  EXPECT_EQ(report.get_child("remediation.rules").size(), 0u) << r.out;
  EXPECT_EQ(report.get_child("remediation.no_rule").size(), 6u) << r.out;
}

TEST_F(PrivateClusterTest, TheShippedConfigSwitchesTheSetOnWithOneValue) {
  FakeImds imds;
  const std::vector<std::string> env = {imds.environment(), "POD_NAMESPACE=reachprobe",
                                        "POD_NAME=reachprobe-x",
                                        "REACHPROBE_PRIVATE_ENDPOINTS=true"};
  auto on =
      run_command({kBinary, "validate", "--config", kSourceDir + "/config/eks.yaml"}, 30s, env);
  EXPECT_EQ(on.exit_code, 0) << on.err;
  EXPECT_EQ(on.out, "ok\n");
  // Without IMDS the registry name has no account: a clear error.
  auto no_account = run_command(
      {kBinary, "validate", "--config", kSourceDir + "/config/eks.yaml"}, 30s,
      {"AWS_EC2_METADATA_DISABLED=true", "POD_NAMESPACE=reachprobe", "POD_NAME=reachprobe-x",
       "REACHPROBE_PRIVATE_ENDPOINTS=true", "AWS_REGION=eu-west-1"});
  EXPECT_EQ(no_account.exit_code, 2);
  EXPECT_TRUE(has(no_account.err, "needs the account id")) << no_account.err;
}

class ClusterEndpointTest : public PrivateClusterTest {
 protected:
  void SetUp() override {
    PrivateClusterTest::SetUp();
    if (IsSkipped()) return;
    endpoint_listener_ = std::make_unique<ListenerInHost>(endpoint_, 0);
    cluster_ip_listener_ = std::make_unique<ListenerInHost>(cluster_ip_, 0);
    dns_.set(kEndpointName, DnsRule::answer({endpoint_.address()}));
    // The kubelet kubeconfig as EKS writes it, the server with the test's port.
    kubeconfig_ = write("kubeconfig",
                        "apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster:\n"
                        "    certificate-authority: /etc/kubernetes/pki/ca.crt\n"
                        "    server: https://" +
                            kEndpointName + ":" + std::to_string(endpoint_listener_->port()) +
                            "\ncurrent-context: kubelet\ncontexts:\n- name: kubelet\n  context:\n"
                            "    cluster: kubernetes\n    user: kubelet\n");
    config_ = write("endpoint.yaml",
                    "interval: 5s\ntimeout: 1s\ndns: {servers: [\"" + dns_.server() +
                        "\"]}\naws: {imds: true}\ntargets:\n"
                        "  - name: apiserver\n    type: tcp\n    hosts: [" +
                        cluster_ip_.address() + "]\n    ports: [" +
                        std::to_string(cluster_ip_listener_->port()) +
                        "]\n"
                        "  - name: apiserver-endpoint\n    type: tcp\n    kubeconfig_server: [" +
                        (dir_ / "al2-kubeconfig").string() + ", " + kubeconfig_ + "]\n");
  }
  TestHost endpoint_, cluster_ip_;
  std::unique_ptr<ListenerInHost> endpoint_listener_, cluster_ip_listener_;
  std::string kubeconfig_, config_;
};

// The VPC is the ClusterIP stand-in's address only: the cluster endpoint resolves outside it,
// as the public endpoint does.
TEST_F(ClusterEndpointTest, HealthyBothPathsAreOk) {
  FakeImdsOptions options;
  options.vpc_cidrs = {cluster_ip_.address() + "/32"};
  FakeImds imds(options);
  auto r = check(config_, imds);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto rows = rows_by_target(r.out);
  EXPECT_EQ(rows["apiserver"].result, "ok");
  EXPECT_EQ(rows["apiserver-endpoint"].result, "ok");
  EXPECT_EQ(rows["apiserver-endpoint"].address, endpoint_.address());
  EXPECT_GE(dns_.query_count(kEndpointName), 1);
}

TEST_F(ClusterEndpointTest, TheEndpointDroppedWhileTheClusterIpWorksIsCaughtAndHinted) {
  endpoint_.nft(kDropTcp);
  FakeImdsOptions options;
  options.vpc_cidrs = {cluster_ip_.address() + "/32"};
  FakeImds imds(options);
  auto r = check(config_, imds);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  pt::ptree report;
  auto rows = rows_by_target(r.out, &report);
  EXPECT_EQ(rows["apiserver"].result, "ok");
  const auto& endpoint = rows["apiserver-endpoint"];
  EXPECT_EQ(endpoint.result, "timeout");
  EXPECT_TRUE(has(endpoint.hint, "the cluster endpoint " + kEndpointName)) << endpoint.hint;
  EXPECT_TRUE(has(endpoint.hint, "from " + kubeconfig_)) << endpoint.hint;
  EXPECT_TRUE(has(endpoint.hint, "public access CIDRs")) << endpoint.hint;
  EXPECT_TRUE(has(endpoint.hint, "private endpoint access")) << endpoint.hint;
  // No security-group rule: the endpoint's access settings are the fix.
  EXPECT_EQ(report.get_child("remediation.rules").size(), 0u) << r.out;
}

TEST_F(ClusterEndpointTest, AnUnreadableKubeconfigIsAConfigError) {
  std::filesystem::remove(kubeconfig_);
  FakeImdsOptions options;
  FakeImds imds(options);
  auto r = run_command({kBinary, "validate", "--config", config_}, 30s, {imds.environment()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, config_ + ":12:")) << r.err;
  EXPECT_TRUE(has(r.err, "none of these files exists")) << r.err;
}

// The chart's two values: the private-endpoint set through the environment, the cluster
// endpoint as a target reading the kubeconfig mounted read-only from the node.
TEST_F(PrivateClusterTest, TheChartSwitchesBothOnWithOneValueEach) {
  if (helm_path(kSourceDir).empty()) GTEST_SKIP() << "no helm (scripts/install-deps.sh)";
  auto r =
      helm_template(kSourceDir, {"--set", "privateCluster.enabled=true", "--set",
                                 "privateCluster.awsAccountId=210987654321", "--set",
                                 "clusterEndpoint.enabled=true", "--set",
                                 "clusterEndpoint.kubeletKubeconfig=/var/lib/kubelet/kubeconfig"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Manifests m(r.out);
  const auto pod = m.of_kind("DaemonSet").at(0)["spec"]["template"]["spec"];
  std::string config_map, kubeconfig_mount;
  std::map<std::string, std::string> env;
  for (const auto& from : pod["containers"][0]["envFrom"]) {
    for (const auto& kv :
         m.find("ConfigMap", from["configMapRef"]["name"].as<std::string>())["data"]) {
      env[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
  }
  EXPECT_EQ(env["REACHPROBE_PRIVATE_ENDPOINTS"], "true");
  EXPECT_EQ(env["AWS_ACCOUNT_ID"], "210987654321");
  bool host_path = false;
  for (const auto& v : pod["volumes"]) {
    if (v["configMap"]) config_map = v["configMap"]["name"].as<std::string>();
    if (v["hostPath"]) {
      host_path = true;
      EXPECT_EQ(v["hostPath"]["path"].as<std::string>(), "/var/lib/kubelet/kubeconfig");
      EXPECT_EQ(v["hostPath"]["type"].as<std::string>(), "File");
    }
  }
  EXPECT_TRUE(host_path);
  for (const auto& mount : pod["containers"][0]["volumeMounts"]) {
    if (mount["name"].as<std::string>() == "kubelet-kubeconfig") {
      kubeconfig_mount = mount["mountPath"].as<std::string>();
      EXPECT_TRUE(mount["readOnly"].as<bool>());
    }
  }
  ASSERT_FALSE(kubeconfig_mount.empty());
  std::string config = m.find("ConfigMap", config_map)["data"]["config.yaml"].as<std::string>();
  ASSERT_NE(config.find("kubeconfig_server: " + kubeconfig_mount), std::string::npos) << config;

  // The rendered config validates in a pod's environment, the mount a local fixture.
  const auto fixture = write("kubeconfig",
                             "clusters:\n- name: c\n  cluster:\n    server: "
                             "https://" +
                                 kEndpointName + "\n");
  config.replace(config.find(kubeconfig_mount), kubeconfig_mount.size(), fixture);
  const auto path = write("rendered.yaml", config);
  std::vector<std::string> pod_env = {"AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=eu-west-1",
                                      "POD_NAMESPACE=reachprobe", "POD_NAME=reachprobe-x",
                                      "POD_IP=198.18.0.2"};
  for (const auto& [k, v] : env) pod_env.push_back(k + "=" + v);
  auto valid = run_command({kBinary, "validate", "--config", path}, 30s, pod_env);
  EXPECT_EQ(valid.exit_code, 0) << valid.err;

  // Off by default: the default rendering has neither.
  auto plain = helm_template(kSourceDir, {});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const Manifests defaults(plain.out);
  for (const auto& cm : defaults.of_kind("ConfigMap")) {
    EXPECT_FALSE(cm["data"]["REACHPROBE_PRIVATE_ENDPOINTS"]) << cm["metadata"]["name"];
  }
  EXPECT_EQ(plain.out.find("kubelet-kubeconfig"), std::string::npos);
  EXPECT_EQ(plain.out.find("apiserver-endpoint"), std::string::npos);
}

}  // namespace
}  // namespace reachprobe::test
