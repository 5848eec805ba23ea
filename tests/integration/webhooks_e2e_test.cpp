// The ports the control plane must reach on a node, found from the cluster's own webhook
// configurations and APIServices (`discover: webhooks`), as the upstream charts create them:
// istio's sidecar injector (Service 443 -> 15017), Gatekeeper (443 -> named webhook-server
// -> 8443, from two configurations), the AWS Load Balancer Controller (an unnamed Service
// port 443 -> named webhook-server -> 9443) and metrics-server's APIService (443 -> named
// https -> 4443); a local APIService and a URL webhook beside them.
//
// The node is a network namespace of its own (its ports are its own: nothing of this
// machine's 8443 or 9443 is taken), where reachprobe runs; the stand-in API server and the
// stand-in IMDS live on the root side of the node's link, which is the control plane here.
// The `webhook-inbound` target is config/eks.yaml's, as shipped.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/fake_imds.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"
#include "tests/support/wait.hpp"

namespace reachprobe::test {
namespace {

using namespace std::chrono_literals;
namespace pt = boost::property_tree;
namespace fs = std::filesystem;

const std::string kBinary = reachprobe_binary();
const std::string kSourceDir = source_dir();
const std::string kToken = "reachprobe-service-account-token";
constexpr auto kInterval = 3s;
constexpr std::uint16_t kMetricsPort = 9754;  // in the node's namespace: nobody else's

// config/eks.yaml's `webhook-inbound` target, as shipped.
std::string shipped_webhook_target() {
  const YAML::Node eks = YAML::LoadFile(kSourceDir + "/config/eks.yaml");
  for (const auto& target : eks["targets"]) {
    if (target["name"].as<std::string>() != "webhook-inbound") continue;
    YAML::Emitter out;
    out << YAML::BeginSeq << target << YAML::EndSeq;
    return out.c_str();
  }
  throw std::runtime_error("config/eks.yaml has no webhook-inbound target");
}

class WebhooksE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    node_ = std::make_unique<TestHost>();
    write_file(dir_ / "ca.crt", pki_.ca_pem());
    write_file(dir_ / "token", kToken + "\n");
    FakeImdsOptions imds;
    imds.listen_address = node_->gateway_address();
    imds_ = std::make_unique<FakeImds>(imds);
  }

  // `authorize`: the RBAC of the service account (empty: everything allowed).
  void start_apiserver(
      std::function<bool(const std::string&, const std::string&, const std::string&)> authorize =
          {}) {
    FakeApiServerOptions options;
    options.certificate = pki_.issue({node_->gateway_address()});
    options.listen_address = node_->gateway_address();
    options.token = kToken;
    options.namespace_name = "reachprobe";
    options.pod_name = "reachprobe-x7k2p";
    options.pod_ip = node_->address();
    options.dial_timeout = 1s;
    options.authorize = std::move(authorize);
    apiserver_ = std::make_unique<FakeApiServer>(options);
    publish_charts();
    const std::string config =
        "interval: " + std::to_string(kInterval.count()) +
        "s\ntimeout: 2s\naws:\n  imds: true\nkubernetes:\n  api_server: " + apiserver_->url() +
        "\n  token_file: " + (dir_ / "token").string() +
        "\n  ca_file: " + (dir_ / "ca.crt").string() +
        "\n  namespace: reachprobe\n  pod_name: reachprobe-x7k2p\n  pod_ip: " + node_->address() +
        "\ntargets:\n" + shipped_webhook_target() + "\n";
    write_file(dir_ / "config.yaml", config);
  }

  // What the charts create, trimmed to the fields that matter; names and shapes are theirs.
  void publish_charts() {
    auto& api = *apiserver_;
    std::vector<FakeWebhook> istio;
    for (const char* name :
         {"rev.namespace.sidecar-injector.istio.io", "rev.object.sidecar-injector.istio.io",
          "namespace.sidecar-injector.istio.io", "object.sidecar-injector.istio.io"}) {
      istio.push_back({name, "istio-system", "istiod", 443, "/inject", ""});
    }
    api.set_webhook_configuration(true, "istio-sidecar-injector", istio);
    api.set_service("istio-system", "istiod", {"10.100.12.1"},
                    {{"grpc-xds", 15010, "TCP", "15010"},
                     {"https-dns", 15012, "TCP", "15012"},
                     {"https-webhook", 443, "TCP", "15017"},
                     {"http-monitoring", 15014, "TCP", "15014"}});

    api.set_webhook_configuration(
        false, "gatekeeper-validating-webhook-configuration",
        {{"validation.gatekeeper.sh", "gatekeeper-system", "gatekeeper-webhook-service",
          std::nullopt, "/v1/admit", ""},
         {"check-ignore-label.gatekeeper.sh", "gatekeeper-system", "gatekeeper-webhook-service",
          std::nullopt, "/v1/admitlabel", ""}});
    api.set_webhook_configuration(true, "gatekeeper-mutating-webhook-configuration",
                                  {{"mutation.gatekeeper.sh", "gatekeeper-system",
                                    "gatekeeper-webhook-service", std::nullopt, "/v1/mutate", ""}});
    api.set_service("gatekeeper-system", "gatekeeper-webhook-service", {"10.100.12.2"},
                    {{"https-webhook-server", 443, "TCP", "webhook-server"}});
    api.set_endpoint_slice("gatekeeper-system", "gatekeeper-webhook-service-7c2xv",
                           "gatekeeper-webhook-service", {{"10.0.7.11", true, "node-b", ""}},
                           {{"https-webhook-server", 8443}});

    api.set_webhook_configuration(
        true, "aws-load-balancer-webhook",
        {{"mpod.elbv2.k8s.aws", "kube-system", "aws-load-balancer-webhook-service", std::nullopt,
          "/mutate-v1-pod", ""},
         {"mtargetgroupbinding.elbv2.k8s.aws", "kube-system", "aws-load-balancer-webhook-service",
          std::nullopt, "/mutate-elbv2-k8s-aws-v1beta1-targetgroupbinding", ""}});
    api.set_webhook_configuration(
        false, "aws-load-balancer-webhook",
        {{"vingress.elbv2.k8s.aws", "kube-system", "aws-load-balancer-webhook-service",
          std::nullopt, "/validate-networking-v1-ingress", ""}});
    api.set_service("kube-system", "aws-load-balancer-webhook-service", {"10.100.12.3"},
                    {{"", 443, "TCP", "webhook-server"}});
    api.set_endpoint_slice("kube-system", "aws-load-balancer-webhook-service-k2x9p",
                           "aws-load-balancer-webhook-service",
                           {{"10.0.7.12", true, "node-b", ""}, {"10.0.7.13", true, "node-c", ""}},
                           {{"", 9443}});

    api.set_api_service("v1beta1.metrics.k8s.io", "kube-system", "metrics-server", 443);
    api.set_api_service("v1.apps", "", "", std::nullopt);  // served by the API server itself
    api.set_service("kube-system", "metrics-server", {"10.100.12.4"},
                    {{"https", 443, "TCP", "https"}});
    api.set_endpoint_slice("kube-system", "metrics-server-5pq8d", "metrics-server",
                           {{"10.0.7.14", true, "node-b", ""}}, {{"https", 4443}});

    // A policy engine outside the cluster: called by URL, so nothing on the nodes to probe.
    api.set_webhook_configuration(false, "external-policy",
                                  {{"policy.example.com", "", "", std::nullopt, "",
                                    "https://policy.example.com/v1/validate"}});
  }

  std::string node() const { return node_->address(); }
  std::vector<std::string> in_node(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"ip", "netns", "exec", node_->name()});
    return argv;
  }
  std::vector<std::string> env() const { return {imds_->environment()}; }
  CommandResult check(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {kBinary, "check", "--config", (dir_ / "config.yaml").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_command(in_node(args), 60s, env());
  }
  // Drops the control plane's SYNs to `port` on the node (its security group without it).
  void drop_from_control_plane(std::uint16_t port) {
    node_->nft("table inet node_sg {\n chain input { type filter hook input priority 0; ip saddr " +
               node_->gateway_address() + " tcp dport " + std::to_string(port) + " drop; }\n}\n");
  }

  TempDir dir_{"reachprobe-webhooks-e2e"};
  TestPki pki_;
  std::unique_ptr<TestHost> node_;
  std::unique_ptr<FakeImds> imds_;
  std::unique_ptr<FakeApiServer> apiserver_;
};

struct Row {
  std::string result;
  std::string message;
  std::string hint;
};
std::map<std::string, Row> rows_of(const std::string& json, pt::ptree* whole = nullptr) {
  std::map<std::string, Row> rows;
  pt::ptree tree;
  std::istringstream in(json);
  pt::read_json(in, tree);
  for (const auto& [_, r] : tree.get_child("results")) {
    rows[r.get<std::string>("target") + " " + r.get<std::string>("endpoint")] = {
        r.get<std::string>("result"), r.get<std::string>("message", ""),
        r.get<std::string>("hint", "")};
  }
  if (whole) *whole = tree;
  return rows;
}

std::string describe(const std::map<std::string, Row>& rows) {
  std::string out;
  for (const auto& [key, row] : rows) out += key + " " + row.result + " " + row.message + "\n";
  return out;
}

std::set<std::string> expected(const std::string& node) {
  return {"webhook-inbound " + node + ":15017", "webhook-inbound " + node + ":8443",
          "webhook-inbound " + node + ":9443", "webhook-inbound " + node + ":4443"};
}

TEST_F(WebhooksE2eTest, HealthyThenOnePortDroppedFailsThatPortAndRemediationNamesItsConsumer) {
  start_apiserver();
  // 1. Healthy: the four ports, each probed once, all ok; the URL webhook listed.
  auto table = check({});
  std::cout << table.out;  // docs/discovery.md: `check` on the healthy node
  EXPECT_EQ(table.exit_code, 0) << table.out << table.err;
  EXPECT_NE(table.out.find("not probed (webhooks and APIServices):"), std::string::npos);
  EXPECT_NE(table.out.find("ValidatingWebhookConfiguration external-policy: webhook "
                           "'policy.example.com' calls https://policy.example.com/v1/validate"),
            std::string::npos)
      << table.out;
  auto json = check({"--format", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.out << json.err;
  pt::ptree whole;
  auto rows = rows_of(json.out, &whole);
  std::set<std::string> seen;
  for (const auto& [key, row] : rows) {
    seen.insert(key);
    EXPECT_EQ(row.result, "ok") << key << ": " << row.message;
  }
  EXPECT_EQ(seen, expected(node())) << describe(rows);
  EXPECT_EQ(whole.get<int>("failed"), 0);
  ASSERT_EQ(whole.get_child("not_probed").size(), 1u) << json.out;
  EXPECT_EQ(whole.get_child("not_probed").front().second.get<std::string>("name"),
            "external-policy");

  // 2. The node security group without the rule for 15017: exactly that endpoint times out.
  drop_from_control_plane(15017);
  json = check({"--format", "json"});
  EXPECT_EQ(json.exit_code, 1) << json.out << json.err;
  rows = rows_of(json.out);
  std::vector<std::string> failing;
  for (const auto& [key, row] : rows) {
    if (row.result != "ok") failing.push_back(key + " " + row.result);
  }
  EXPECT_EQ(failing, std::vector<std::string>{"webhook-inbound " + node() + ":15017 timeout"})
      << describe(rows);
  EXPECT_EQ(rows.size(), 4u);
  const auto& hint = rows["webhook-inbound " + node() + ":15017"].hint;
  EXPECT_NE(hint.find("MutatingWebhookConfiguration istio-sidecar-injector"), std::string::npos)
      << hint;
  EXPECT_NE(hint.find("TCP 15017"), std::string::npos) << hint;

  for (const char* format : {"terraform", "aws-cli"}) {
    auto remediation = check({"--remediation", format});
    std::cout << remediation.out;  // docs/discovery.md: the fix
    EXPECT_EQ(remediation.exit_code, 1) << remediation.err;
    const std::string& out = remediation.out;
    // Port, consumer, and both security groups (this node's, the cluster's), from IMDS.
    EXPECT_NE(out.find("15017"), std::string::npos) << out;
    EXPECT_NE(out.find("for MutatingWebhookConfiguration istio-sidecar-injector"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("sg-0a1b2c3d4e5f60718"), std::string::npos) << out;
    EXPECT_NE(out.find("sg-0fedcba9876543210"), std::string::npos) << out;
    EXPECT_EQ(out.find("8443"), std::string::npos) << "only the failing port: " << out;
  }
}

TEST_F(WebhooksE2eTest, AWebhookAddedWhileTheDaemonRunsIsProbedWithinTwoIntervals) {
  start_apiserver();
  ChildProcess daemon(in_node({kBinary, "run", "--config", (dir_ / "config.yaml").string(),
                               "--listen", node() + ":" + std::to_string(kMetricsPort)}),
                      env());
  std::string last;
  auto metrics = [&] { return http_get(node(), kMetricsPort, "/metrics").body; };
  auto success = [&](const std::string& exposition) {
    std::map<std::string, double> out;
    static const std::regex line(
        R"re(^reachprobe_probe_success\{.*(?:dst|endpoint)="([^"]*)".*target="webhook-inbound".*\} (\S+)$)re");
    std::istringstream in(exposition);
    for (std::string l; std::getline(in, l);) {
      std::smatch m;
      if (std::regex_match(l, m, line)) out[m[1]] = std::stod(m[2]);
    }
    return out;
  };
  const std::map<std::string, double> healthy = {
      {node() + ":15017", 1}, {node() + ":8443", 1}, {node() + ":9443", 1}, {node() + ":4443", 1}};
  ASSERT_TRUE(wait_until(
      [&] {
        last = metrics();
        return success(last) == healthy;
      },
      30s, 100ms))
      << last << daemon.stderr_text();
  const auto pid = daemon.pid();
  const auto started = sample(last, "process_start_time_seconds");
  EXPECT_NE(last.find("reachprobe_inbound_consumer_info{consumer=\"istio-sidecar-injector\","
                      "consumer_kind=\"MutatingWebhookConfiguration\",dst=\"" +
                      node() + ":15017\",target=\"webhook-inbound\",vantage=\"node\"} 1"),
            std::string::npos)
      << last;

  // Vault's agent injector is installed: its webhook (Service 443 -> 8080) appears.
  const auto added = std::chrono::steady_clock::now();
  apiserver_->set_service("vault", "vault-agent-injector-svc", {"10.100.12.5"},
                          {{"https", 443, "TCP", "8080"}});
  apiserver_->set_webhook_configuration(
      true, "vault-agent-injector-cfg",
      {{"vault.hashicorp.com", "vault", "vault-agent-injector-svc", 443, "/mutate", ""}});
  auto with_vault = healthy;
  with_vault[node() + ":8080"] = 1;
  ASSERT_TRUE(wait_until(
      [&] {
        last = metrics();
        return success(last) == with_vault;
      },
      10 * kInterval, 50ms))
      << last << daemon.stderr_text();
  const auto took = std::chrono::steady_clock::now() - added;
  std::cout << "[webhooks-e2e] the added webhook's port probed ok "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms after the webhook configuration was created (interval "
            << std::chrono::duration_cast<std::chrono::milliseconds>(kInterval).count() << " ms)\n";
  EXPECT_LE(took, 2 * kInterval);

  // Uninstalled again: its series go, the others stay; still the same process.
  apiserver_->delete_webhook_configuration(true, "vault-agent-injector-cfg");
  ASSERT_TRUE(wait_until(
      [&] {
        last = metrics();
        return success(last) == healthy;
      },
      10 * kInterval, 50ms))
      << last;
  EXPECT_EQ(last.find("vault-agent-injector-cfg"), std::string::npos) << last;
  EXPECT_EQ(daemon.pid(), pid);
  EXPECT_TRUE(daemon.running());
  EXPECT_EQ(sample(last, "process_start_time_seconds"), started);
  // Said once per change, with the consumers.
  EXPECT_TRUE(daemon.wait_for_stderr("vault-agent-injector-cfg", 1s)) << daemon.stderr_text();
}

TEST_F(WebhooksE2eTest, WithoutTheClusterRoleCheckNamesTheMissingPermission) {
  // The ClusterRole removed: the webhook resources are forbidden, Services still readable.
  start_apiserver([](const std::string&, const std::string& resource, const std::string&) {
    return resource.find("webhookconfigurations") == std::string::npos &&
           resource.find("apiservices") == std::string::npos;
  });
  auto json = check({"--format", "json"});
  ASSERT_EQ(json.exit_code, 1) << json.out << json.err;
  std::map<std::string, Row> rows;
  try {
    rows = rows_of(json.out);
  } catch (const std::exception& e) {
    FAIL() << e.what() << "\n" << json.out << json.err;
  }
  for (const char* resource :
       {"validatingwebhookconfigurations", "mutatingwebhookconfigurations", "apiservices"}) {
    auto it = rows.find(std::string("webhook-inbound ") + resource);
    ASSERT_NE(it, rows.end()) << describe(rows);
    EXPECT_EQ(it->second.result, "error");
    EXPECT_NE(
        it->second.message.find("forbidden (403): the service account needs RBAC `list` on `" +
                                std::string(resource)),
        std::string::npos)
        << it->second.message;
    EXPECT_NE(it->second.message.find("cluster-wide (a ClusterRole and its ClusterRoleBinding)"),
              std::string::npos);
  }
  auto table = check({});
  std::cout << table.out;
  EXPECT_NE(table.out.find("apiservices.apiregistration.k8s.io"), std::string::npos) << table.out;
}

}  // namespace
}  // namespace reachprobe::test
