// deploy/, config/eks.yaml and dashboards/: the files users apply, checked with the tools
// CI has (the built binary, promtool, kubectl's kustomize, the npm schema validator).
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "probe/aws/node_facts.hpp"
#include "probe/check/hints.hpp"
#include "probe/check/remediation.hpp"
#include "probe/config/config.hpp"
#include "probe/config/env_expand.hpp"
#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/fake_imds.hpp"
#include "tests/support/helm.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"

namespace reachprobe::test {
namespace {

using namespace std::chrono_literals;
namespace pt = boost::property_tree;

const std::string kBinary = reachprobe_binary();
const std::string kSourceDir = source_dir();

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool have(const std::string& program) {
  return run_command({"/bin/sh", "-c", "command -v " + program}, 10s).exit_code == 0;
}

// KEY=VALUE of the ConfigMap reachprobe-cluster of deploy/base (the chart's rendering with
// its defaults): the DaemonSet's environment.
std::vector<std::string> cluster_env() {
  std::vector<std::string> env;
  const Manifests base(read_file(kSourceDir + "/deploy/base/reachprobe.yaml"));
  for (const auto& kv : base.find("ConfigMap", "reachprobe-cluster")["data"]) {
    env.push_back(kv.first.as<std::string>() + "=" + kv.second.as<std::string>());
  }
  return env;
}

TEST(EksConfig, ValidatesWithTheEnvironmentTheDaemonSetGives) {
  auto env = cluster_env();
  ASSERT_GE(env.size(), 3u);
  // The region is the node's, from IMDS (a stand-in on loopback).
  FakeImds imds;
  env.push_back(imds.environment());
  // And from the downward API, which the inbound and kubelet targets need.
  env.insert(env.end(), {"POD_NAMESPACE=reachprobe", "POD_NAME=reachprobe-x7k2p", "POD_IP=10.0.1.5",
                         "NODE_NAME=ip-10-0-1-5"});
  auto r =
      run_command({kBinary, "validate", "--config", kSourceDir + "/config/eks.yaml"}, 30s, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
}

// The pod vantage's DaemonSet as deploy/base ships it: its config (STS left out: no region
// is set) validates with its own environment (values and the downward API), and
// config/eks-pod.yaml with every target validates once the region is given.
TEST(EksPodConfig, ValidatesWithTheEnvironmentThePodDaemonSetGives) {
  const Manifests base(read_file(kSourceDir + "/deploy/base/reachprobe.yaml"));
  const auto pod = base.find("DaemonSet", "reachprobe-pod")["spec"]["template"]["spec"];
  ASSERT_TRUE(pod);
  EXPECT_FALSE(pod["hostNetwork"].as<bool>(true));
  std::vector<std::string> env = {"POD_NAMESPACE=reachprobe", "POD_NAME=reachprobe-pod-q8x2z",
                                  "POD_IP=100.64.3.7", "NODE_NAME=ip-10-0-1-5"};
  for (const auto& e : pod["containers"][0]["env"]) {
    if (e["value"]) env.push_back(e["name"].as<std::string>() + "=" + e["value"].as<std::string>());
  }
  const auto config = base.find("ConfigMap", "reachprobe-pod-config")["data"]["config.yaml"];
  ASSERT_TRUE(config);
  EXPECT_EQ(config.as<std::string>().find("name: sts"), std::string::npos);
  TempDir dir("reachprobe-pod-config");
  write_file(dir / "config.yaml", config.as<std::string>());
  auto r = run_command({kBinary, "validate", "--config", (dir / "config.yaml").string()}, 30s, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");

  env.push_back("AWS_REGION=ap-southeast-1");
  r = run_command({kBinary, "validate", "--config", kSourceDir + "/config/eks-pod.yaml"}, 30s, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// The shipped hints are true for every result they can meet (each names its results), and
// say what `check --remediation` does: one port, from the group it names.
TEST(EksConfig, HintsNameTheirResultsAndAgreeWithTheRemediation) {
  std::map<std::string, std::string> vars;
  for (const auto& kv : cluster_env())
    vars[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
  vars.insert({{"POD_NAMESPACE", "reachprobe"},
               {"POD_NAME", "reachprobe-x7k2p"},
               {"POD_IP", "10.0.1.5"},
               {"NODE_NAME", "ip-10-0-1-5"},
               {"AWS_REGION", "eu-west-1"}});
  const config::EnvLookup lookup = [&](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  const auto loaded = config::load_config_file(kSourceDir + "/config/eks.yaml", lookup);
  ASSERT_TRUE(loaded.config.has_value());
  aws::NodeFacts facts;
  facts.vpc_cidrs = {"10.0.0.0/16"};
  facts.security_groups = {{"sg-0a1b2c3d4e5f60718", "demo-node"},
                           {"sg-0fedcba9876543210", "eks-cluster-sg-demo-1"}};
  // Where each target's endpoints would be on a cluster (VPC 10.0.0.0/16, Services
  // 172.20.0.0/16): the address and port a failing row carries.
  const std::map<std::string, std::pair<std::string, std::uint16_t>> where = {
      {"apiserver", {"172.20.0.1", 443}},
      {"control-plane-enis", {"10.0.9.12", 443}},
      {"sts", {"52.94.1.10", 443}},
      {"alertmanager-service", {"172.20.7.7", 9093}},
      {"alertmanager-pods", {"10.0.3.7", 9093}},
      {"coredns-tcp", {"172.20.0.10", 53}},
      {"node-mesh", {"10.0.2.8", 9754}}};
  int checked = 0;
  for (const auto& target : loaded.config->targets) {
    EXPECT_TRUE(target.hint.empty()) << target.name << ": a hint must name the results it explains";
    for (const auto& [outcome, text] : target.result_hints) {
      EXPECT_EQ(text.find("all traffic"), std::string::npos) << target.name << ": " << text;
    }
    auto it = where.find(target.name);
    if (it == where.end()) continue;
    auto shared = std::make_shared<Target>(target);
    shared->discover.reset();
    if (shared->hosts.empty()) shared->hosts = {it->second.first};
    shared->ports = {it->second.second};
    auto endpoint = expand_endpoints({shared}).front();
    shared->discover = target.discover;
    auto failing = [&](Outcome outcome) {
      CheckRow row{endpoint, {}, {}};
      row.result.outcome = outcome;
      row.result.address = it->second.first;
      return row;
    };
    // A refused connection crossed every security group: no hint blames one.
    const auto refused = hint_for(endpoint, failing(Outcome::Refused).result, &facts);
    EXPECT_EQ(refused.find("security group must allow"), std::string::npos)
        << target.name << ": " << refused;
    const std::string own(target.hint_for(Outcome::Timeout));
    if (own.empty()) continue;
    const auto plan = plan_remediation({failing(Outcome::Timeout)}, &facts);
    ASSERT_EQ(plan.rules.size(), 1u) << target.name;
    const auto& rule = plan.rules[0];
    EXPECT_EQ(rule.port, it->second.second) << target.name;
    if (own.find("from itself") != std::string::npos) {
      EXPECT_EQ(rule.kind, RuleKind::NodeToNode) << target.name;
      EXPECT_EQ(rule.peer, RulePeer::Self) << target.name;
    } else if (own.find("cluster security group must allow TCP 443 from the node security "
                        "group") != std::string::npos) {
      EXPECT_EQ(rule.kind, RuleKind::NodeToApiServer) << target.name;
    } else if (own.find("STS") != std::string::npos) {
      EXPECT_EQ(rule.kind, RuleKind::StsEgress) << target.name;
    } else {
      ADD_FAILURE() << target.name << ": a timeout hint that names no rule: " << own;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 6);
}

TEST(EksConfig, NamesEveryRequiredVariableThatIsUnset) {
  std::vector<std::string> argv = {"/usr/bin/env",        "-u", "POD_NAMESPACE",     "-u",
                                   "REACHPROBE_INTERVAL", "-u", "REACHPROBE_TIMEOUT"};
  for (const auto& kv : cluster_env()) argv.insert(argv.end(), {"-u", kv.substr(0, kv.find('='))});
  argv.insert(argv.end(), {kBinary, "validate", "--config", kSourceDir + "/config/eks.yaml"});
  auto r = run_command(argv, 30s);
  EXPECT_EQ(r.exit_code, 2);
  // What cannot be discovered: the region (IMDS is out of reach here: the suite's closed
  // endpoint) and the pod's own namespace (downward API).
  for (const char* var : {"AWS_REGION", "POD_NAMESPACE"}) {
    EXPECT_NE(r.err.find(std::string("environment variable ") + var + " is not set"),
              std::string::npos)
        << var << "\n"
        << r.err;
  }
  // Variables with defaults are not required; the hand-copied values are gone.
  for (const char* var :
       {"ALERTMANAGER_NAMESPACE", "ALERTMANAGER_SERVICE", "CLUSTER_DOMAIN", "REACHPROBE_SERVICE",
        "REACHPROBE_INTERVAL", "EKS_API_HOST", "EKS_CONTROL_PLANE_IP_A", "KUBE_DNS_IP"}) {
    EXPECT_EQ(r.err.find(var), std::string::npos) << var << "\n" << r.err;
  }
}

TEST(EksConfig, ClusterEnvHoldsOnlyWhatCannotBeDiscovered) {
  std::set<std::string> keys;
  for (const auto& kv : cluster_env()) keys.insert(kv.substr(0, kv.find('=')));
  // Not even the region: it is the node's, from IMDS.
  EXPECT_EQ(keys, (std::set<std::string>{"ALERTMANAGER_NAMESPACE", "ALERTMANAGER_SERVICE",
                                         "CLUSTER_DOMAIN", "REACHPROBE_SERVICE"}));
  // The DaemonSet leaves the interval to the config's default: the test knobs stay unset.
  const auto ds = read_file(kSourceDir + "/deploy/base/reachprobe.yaml");
  EXPECT_EQ(ds.find("name: REACHPROBE_INTERVAL"), std::string::npos);
  EXPECT_EQ(ds.find("name: REACHPROBE_TIMEOUT"), std::string::npos);
}

TEST(Deploy, GeneratedFilesAgreeWithTheChartAndItsSources) {
  // deploy/base and deploy/kube-prometheus-stack are the chart's rendering; the chart holds
  // copies of config/eks.yaml, dashboards/*.json and the rules file.
  auto r = run_command({kSourceDir + "/deploy/sync.sh", "--check"}, 60s);
  if (r.exit_code == 77) GTEST_SKIP() << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(Deploy, DockerfileRuntimePackagesAreWhatLddNeeds) {
  // scripts/sanitize.sh builds link sanitizer runtimes that no image ships.
  auto ldd = run_command({"ldd", kBinary}, 30s);
  if (std::regex_search(ldd.out, std::regex(R"(lib[at]san|libubsan)"))) {
    GTEST_SKIP() << "a sanitizer build: the image ships the plain build";
  }
  auto r = run_command({kSourceDir + "/deploy/check-dockerfile.sh", kBinary}, 60s);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("libc-ares2"), std::string::npos) << r.out;
}

TEST(Deploy, PlainPrometheusScrapeConfigParses) {
  if (!have("promtool")) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  // Debian's Prometheus is built without Kubernetes discovery: promtool checks the job
  // with its kubernetes_sd_configs block swapped for a static target, so the relabelling
  // and the rest are still checked.
  auto text = read_file(kSourceDir + "/deploy/prometheus/scrape-config.yaml");
  const std::regex sd(R"(    kubernetes_sd_configs:\n(      .*\n)+)");
  ASSERT_TRUE(std::regex_search(text, sd)) << text;
  text = std::regex_replace(text, sd, "    static_configs:\n      - targets: ['127.0.0.1:9754']\n");
  const auto path = std::filesystem::temp_directory_path() /
                    ("reachprobe-scrape-" + std::to_string(getpid()) + ".yml");
  std::ofstream(path) << text;
  auto r = run_command({"promtool", "check", "config", path.string()}, 30s);
  std::filesystem::remove(path);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err << text;
  EXPECT_NE(text.find("__meta_kubernetes_pod_node_name"), std::string::npos);
}

TEST(Deploy, DaemonSetHasWhatANodeAgentNeeds) {
  const auto ds = read_file(kSourceDir + "/deploy/base/reachprobe.yaml");
  for (const char* needle :
       {"hostNetwork: true", "dnsPolicy: ClusterFirstWithHostNet", "- operator: Exists",
        "priorityClassName: system-node-critical", "fieldPath: spec.nodeName",
        "fieldPath: metadata.name", "fieldPath: metadata.namespace", "runAsNonRoot: true",
        "readOnlyRootFilesystem: true", "allowPrivilegeEscalation: false", "drop: [\"ALL\"]",
        "path: /healthz", "path: /readyz", "containerPort: 9754", "maxUnavailable: 10%"}) {
    EXPECT_NE(ds.find(needle), std::string::npos) << needle;
  }
}

TEST(Deploy, KustomizationsAndTheChartRenderAndValidateAgainstTheSchemas) {
  auto r = run_command({kSourceDir + "/deploy/validate-manifests.sh"}, 120s);
  if (r.exit_code == 77) GTEST_SKIP() << r.err;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("ok   DaemonSet/reachprobe/reachprobe"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok   PodMonitor/reachprobe/reachprobe"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok   PrometheusRule/reachprobe/reachprobe"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ok   ConfigMap/monitoring/reachprobe-dashboards"), std::string::npos)
      << r.out;
  // The Roles and bindings, in the namespaces whose Services are discovered.
  for (const char* object :
       {"Role/reachprobe/reachprobe", "RoleBinding/reachprobe/reachprobe",
        "Role/default/reachprobe-discovery", "RoleBinding/default/reachprobe-discovery",
        "Role/kube-system/reachprobe-discovery", "RoleBinding/kube-system/reachprobe-discovery",
        "Role/monitoring/reachprobe-alertmanager",
        "RoleBinding/monitoring/reachprobe-alertmanager"}) {
    EXPECT_NE(r.out.find(std::string("ok   ") + object + "\n"), std::string::npos) << object << "\n"
                                                                                   << r.out;
  }
  // One ClusterRole: the cluster-scoped webhook configurations and APIServices (and the
  // Services they name, wherever they are) of webhook-inbound; no other.
  for (const char* object :
       {"ClusterRole/reachprobe-webhooks", "ClusterRoleBinding/reachprobe-webhooks"}) {
    EXPECT_NE(r.out.find(std::string("ok   ") + object + "\n"), std::string::npos) << object;
  }
  std::set<std::string> cluster_roles;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("ok   ClusterRole/")) cluster_roles.insert(line);
  }
  EXPECT_EQ(cluster_roles, std::set<std::string>{"ok   ClusterRole/reachprobe-webhooks"}) << r.out;
  // The chart itself, rendered by helm with its defaults and the kube-prometheus-stack values.
  EXPECT_NE(r.out.find("== helm template deploy/helm/reachprobe\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("== helm template deploy/helm/reachprobe -f "
                       "deploy/helm/values-kube-prometheus-stack.yaml\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
}

TEST(Deploy, TheSchemaValidatorRejectsWrongTypesAndUnknownFields) {
  // The kubectl that deploy/validate-manifests.sh uses: the PATH's, else deploy/tools/bin's.
  std::string kubectl = "kubectl";
  if (!have(kubectl)) kubectl = kSourceDir + "/deploy/tools/bin/kubectl";
  if (!std::filesystem::exists(kubectl) && !have(kubectl)) {
    GTEST_SKIP() << "no kubectl (scripts/install-deps.sh installs one)";
  }
  if (!have("node") || !std::filesystem::exists(kSourceDir + "/deploy/tools/node_modules")) {
    GTEST_SKIP() << "node or deploy/tools/node_modules missing (scripts/install-deps.sh)";
  }
  // The rendered base with a typo'd field and a string where a boolean belongs.
  auto r = run_command({"/bin/sh", "-c",
                        "'" + kubectl + "' kustomize '" + kSourceDir +
                            "/deploy/base' | sed -e 's/readOnlyRootFilesystem: "
                            "true/readOnlyRootFilesytem: true/' -e 's/hostNetwork: "
                            "true/hostNetwork: \"yes\"/' | node '" +
                            kSourceDir + "/deploy/tools/validate.mjs'"},
                       60s);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("hostNetwork must be boolean"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unknown field(s): /spec/template/spec/containers/0/securityContext/"
                       "readOnlyRootFilesytem"),
            std::string::npos)
      << r.out;
}

// The PodMonitor users apply, as the operator reads it: the chart's, as rendered into
// deploy/kube-prometheus-stack/monitoring.yaml.
YAML::Node shipped_podmonitor() {
  for (const auto& doc :
       YAML::LoadAllFromFile(kSourceDir + "/deploy/kube-prometheus-stack/monitoring.yaml")) {
    if (doc["kind"] && doc["kind"].as<std::string>() == "PodMonitor") return doc;
  }
  ADD_FAILURE() << "no PodMonitor in deploy/kube-prometheus-stack/monitoring.yaml";
  return YAML::Node();
}

// A node in one line, in document order: {key: value, key: [a, b]}.
std::string one_line(const YAML::Node& node) {
  std::string out;
  if (node.IsMap()) {
    for (const auto& kv : node) {
      out += (out.empty() ? "{" : ", ") + kv.first.as<std::string>() + ": " + one_line(kv.second);
    }
    return out + "}";
  }
  if (node.IsSequence()) {
    for (const auto& item : node) out += (out.empty() ? "[" : ", ") + one_line(item);
    return out + "]";
  }
  return node.as<std::string>("");
}

std::string sanitized_label_name(std::string name) {
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  }
  return name;
}

// The operator's scrape config the Prometheus proof scrapes through is the one for the
// PodMonitor as shipped: a change of the PodMonitor must come with a new fixture (from a
// real operator or its golden files), or the proof proves an old config.
TEST(Deploy, TheOperatorScrapeConfigFixtureIsTheShippedPodMonitors) {
  const auto monitor = shipped_podmonitor();
  const auto fixture = YAML::LoadFile(
      kSourceDir +
      "/tests/integration/fixtures/podmonitor-scrape-config.prometheus-operator-v0.93.0.yaml");
  const auto job = fixture["scrape_configs"][0];
  const auto ns = monitor["metadata"]["namespace"].as<std::string>();
  const auto name = monitor["metadata"]["name"].as<std::string>();
  ASSERT_EQ(monitor["spec"]["podMetricsEndpoints"].size(), 1u);
  const auto endpoint = monitor["spec"]["podMetricsEndpoints"][0];
  EXPECT_EQ(job["job_name"].as<std::string>(), "podMonitor/" + ns + "/" + name + "/0");
  ASSERT_TRUE(endpoint["honorLabels"]) << "the PodMonitor decides honorLabels explicitly";
  EXPECT_EQ(job["honor_labels"].as<bool>(), endpoint["honorLabels"].as<bool>());
  EXPECT_EQ(job["kubernetes_sd_configs"][0]["namespaces"]["names"][0].as<std::string>(), ns);
  EXPECT_EQ(job["scrape_interval"].as<std::string>(), endpoint["interval"].as<std::string>());
  EXPECT_EQ(job["metrics_path"].as<std::string>(), endpoint["path"].as<std::string>());

  const auto relabel = job["relabel_configs"];
  std::vector<std::string> rules;
  for (const auto& r : relabel) rules.push_back(one_line(r));
  const auto has = [&](const std::string& rule) {
    return std::find(rules.begin(), rules.end(), rule) != rules.end();
  };
  for (const auto& label : monitor["spec"]["selector"]["matchLabels"]) {
    const auto key = sanitized_label_name(label.first.as<std::string>());
    EXPECT_TRUE(has("{action: keep, source_labels: [__meta_kubernetes_pod_label_" + key +
                    ", __meta_kubernetes_pod_labelpresent_" + key + "], regex: (" +
                    label.second.as<std::string>() + ");true}"))
        << key;
  }
  const auto port = endpoint["port"].as<std::string>();
  EXPECT_TRUE(
      has("{action: keep, source_labels: [__meta_kubernetes_pod_container_port_name], "
          "regex: " +
          port + "}"));
  EXPECT_TRUE(has("{target_label: job, replacement: " + ns + "/" + name + "}"));
  // The PodMonitor's relabelings come right after the operator's `endpoint` rule, before
  // the three sharding rules, in the operator's key order.
  const auto at =
      std::find(rules.begin(), rules.end(), "{target_label: endpoint, replacement: " + port + "}");
  ASSERT_NE(at, rules.end());
  std::vector<std::string> users(at + 1, rules.end() - 3);
  std::vector<std::string> expected;
  for (const auto& r : endpoint["relabelings"]) {
    YAML::Node m(YAML::NodeType::Map);
    if (r["sourceLabels"]) m["source_labels"] = r["sourceLabels"];
    if (r["separator"]) m["separator"] = r["separator"];
    if (r["targetLabel"]) m["target_label"] = r["targetLabel"];
    if (r["regex"]) m["regex"] = r["regex"];
    if (r["modulus"]) m["modulus"] = r["modulus"];
    if (r["replacement"]) m["replacement"] = r["replacement"];
    if (r["action"]) m["action"] = r["action"];
    expected.push_back(one_line(m));
  }
  EXPECT_EQ(users, expected);
}

TEST(AlertRules, PromtoolChecksAndUnitTestsPass) {
  if (!have("promtool")) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  const auto dir = kSourceDir + "/deploy/prometheus";
  auto check = run_command({"promtool", "check", "rules", dir + "/reachprobe-rules.yaml"}, 60s);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("SUCCESS: 20 rules found"), std::string::npos) << check.out;
  auto test = run_command({"promtool", "test", "rules", dir + "/reachprobe-rules.test.yaml"}, 60s);
  EXPECT_EQ(test.exit_code, 0) << test.out << test.err;
  EXPECT_NE(test.out.find("SUCCESS"), std::string::npos) << test.out;
}

TEST(AlertRules, EveryAlertHasAUnitTestFiringAndNotFiring) {
  const auto rules = read_file(kSourceDir + "/deploy/prometheus/reachprobe-rules.yaml");
  const auto tests = read_file(kSourceDir + "/deploy/prometheus/reachprobe-rules.test.yaml");
  std::set<std::string> alerts;
  const std::regex alert_re(R"(- alert: (\w+))");
  for (std::sregex_iterator it(rules.begin(), rules.end(), alert_re), end; it != end; ++it) {
    alerts.insert((*it)[1]);
  }
  EXPECT_EQ(alerts.size(), 15u);
  for (const auto& a : alerts) {
    // A check expecting no alert, and one expecting this alert with its labels.
    EXPECT_TRUE(std::regex_search(tests, std::regex("alertname: " + a + "\n *exp_alerts: \\[\\]")))
        << a << " has no not-firing check";
    EXPECT_TRUE(
        std::regex_search(tests, std::regex("alertname: " + a + "\n *exp_alerts:\n *- exp_labels")))
        << a << " has no firing check";
  }
  // Each alert has a summary, a description and a runbook.
  for (const std::string key : {"summary:", "description:", "runbook_url:"}) {
    std::size_t n = 0;
    for (auto pos = rules.find(key); pos != std::string::npos; pos = rules.find(key, pos + 1)) ++n;
    EXPECT_EQ(n, alerts.size()) << key;
  }
}

// GitHub's anchor of a Markdown heading: lower case, spaces to '-', punctuation dropped.
std::string heading_anchor(const std::string& heading) {
  std::string anchor;
  for (unsigned char c : heading) {
    if (std::isalnum(c) || c == '-' || c == '_') {
      anchor += static_cast<char>(std::tolower(c));
    } else if (c == ' ') {
      anchor += '-';
    }
  }
  return anchor;
}

TEST(AlertRules, EveryRunbookUrlPointsAtARunbookOfThatAlert) {
  std::set<std::string> anchors;
  std::istringstream in(read_file(kSourceDir + "/docs/runbooks.md"));
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("## ")) anchors.insert(heading_anchor(line.substr(3)));
  }
  const auto rules = YAML::LoadFile(kSourceDir + "/deploy/prometheus/reachprobe-rules.yaml");
  std::size_t alerts = 0;
  for (const auto& group : rules["groups"]) {
    for (const auto& rule : group["rules"]) {
      if (!rule["alert"]) continue;
      ++alerts;
      const auto name = rule["alert"].as<std::string>();
      const auto url = rule["annotations"]["runbook_url"].as<std::string>("");
      const std::string prefix =
          "https://github.com/reachprobe/reachprobe/blob/main/docs/runbooks.md#";
      ASSERT_TRUE(url.starts_with(prefix)) << name << ": " << url;
      const auto anchor = url.substr(prefix.size());
      EXPECT_EQ(anchor, heading_anchor(name)) << name;
      EXPECT_TRUE(anchors.contains(anchor))
          << name << ": no '## " << name << "' in docs/runbooks.md";
    }
  }
  EXPECT_EQ(alerts, 15u);
  // Every runbook says how to run `check` in the reachprobe pod of the node.
  const auto runbooks = read_file(kSourceDir + "/docs/runbooks.md");
  EXPECT_NE(runbooks.find("kubectl -n reachprobe get pod --field-selector spec.nodeName="),
            std::string::npos);
  EXPECT_NE(runbooks.find("-- reachprobe check --config /etc/reachprobe/config.yaml"),
            std::string::npos);
}

// The paging group reads no day-long range: the latency baseline is recorded in a group of
// its own, at a longer interval, and the alert reads the recording.
TEST(AlertRules, TheDayLongBaselineIsRecordedOutsideThePagingGroup) {
  const auto rules = YAML::LoadFile(kSourceDir + "/deploy/prometheus/reachprobe-rules.yaml");
  bool recorded = false;
  for (const auto& group : rules["groups"]) {
    const auto name = group["name"].as<std::string>();
    for (const auto& rule : group["rules"]) {
      const auto expr = rule["expr"].as<std::string>();
      if (rule["alert"]) {
        EXPECT_EQ(expr.find("[1d]"), std::string::npos) << rule["alert"].as<std::string>();
      }
      if (expr.find("[1d] offset 1h") != std::string::npos) {
        EXPECT_TRUE(rule["record"]) << "in group " << name;
        EXPECT_EQ(name, "reachprobe-latency-baseline");
        EXPECT_EQ(group["interval"].as<std::string>(""), "10m");
        recorded = true;
      }
    }
  }
  EXPECT_TRUE(recorded);
  EXPECT_NE(read_file(kSourceDir + "/deploy/prometheus/reachprobe-rules.yaml")
                .find("last_over_time(reachprobe:probe_duration_seconds_total_phase:p99_1d_offset_"
                      "1h[20m])"),
            std::string::npos);
}

pt::ptree dashboard() {
  pt::ptree tree;
  pt::read_json(kSourceDir + "/dashboards/reachprobe.json", tree);
  return tree;
}

// Every panel, those in rows included: (panel, nested in a collapsed row).
void collect_panels(const pt::ptree& panels, bool in_collapsed_row,
                    std::vector<std::pair<pt::ptree, bool>>& out) {
  for (const auto& [_, p] : panels) {
    if (p.get<std::string>("type") == "row") {
      if (auto nested = p.get_child_optional("panels")) {
        collect_panels(*nested, p.get<bool>("collapsed", false), out);
      }
      continue;
    }
    out.emplace_back(p, in_collapsed_row);
  }
}

std::vector<std::pair<pt::ptree, bool>> all_panels(const pt::ptree& dashboard) {
  std::vector<std::pair<pt::ptree, bool>> out;
  collect_panels(dashboard.get_child("panels"), false, out);
  return out;
}

TEST(Dashboard, HasADatasourceVariableAndTheFilterVariables) {
  const auto d = dashboard();
  EXPECT_GE(d.get<int>("schemaVersion"), 39);
  std::set<std::string> vars;
  for (const auto& [_, v] : d.get_child("templating.list")) {
    vars.insert(v.get<std::string>("name"));
    // Every query variable but cluster's own is of the selected cluster.
    if (v.get<std::string>("type") == "query" && v.get<std::string>("name") != "cluster") {
      EXPECT_NE(v.get<std::string>("query.query").find("cluster=~\"$cluster\""), std::string::npos)
          << v.get<std::string>("name");
    }
  }
  EXPECT_EQ(vars, (std::set<std::string>{"datasource", "cluster", "node", "target", "group"}));
  int queries = 0;
  static const std::regex selector(R"((reachprobe_[a-z_]+|up|process_[a-z_]+)\{([^}]*)\})");
  for (const auto& [p, _] : all_panels(d)) {
    EXPECT_EQ(p.get<std::string>("datasource.uid"), "${datasource}") << p.get<std::string>("title");
    for (const auto& [__, t] : p.get_child("targets")) {
      EXPECT_EQ(t.get<std::string>("datasource.uid"), "${datasource}");
      ++queries;
      // Every selector is of the selected cluster.
      const auto expr = t.get<std::string>("expr");
      for (std::sregex_iterator it(expr.begin(), expr.end(), selector), end; it != end; ++it) {
        EXPECT_TRUE((*it)[2].str().starts_with("cluster=~\"$cluster\""))
            << p.get<std::string>("title") << ": " << (*it)[0];
      }
    }
  }
  EXPECT_GE(queries, 10);
}

// The per-node panels are in a row repeated per selected node, collapsed: at 200 nodes
// the dashboard opens with 200 closed rows, not 800 panels querying at once.
TEST(Dashboard, NodeRowsAreCollapsed) {
  const auto d = dashboard();
  int repeated = 0;
  for (const auto& [_, p] : d.get_child("panels")) {
    if (p.get<std::string>("type") != "row" || p.get<std::string>("repeat", "") != "node") continue;
    ++repeated;
    EXPECT_TRUE(p.get<bool>("collapsed", false));
    EXPECT_GE(p.get_child("panels").size(), 3u);
  }
  EXPECT_EQ(repeated, 1);
}

// Usable at 200 nodes: against 200 nodes (promtool, the labels of the operator's scrape),
// every panel outside the collapsed node rows draws at most 25 series or rows, whatever
// fails. The exception is the failing table: one row per failing (node, endpoint),
// failures only. Five endpoints per node (tcp, the node mesh, dns, inbound) keep promtool
// under its sample limit and in about a minute; the endpoint tables are top-k anyway.
TEST(Dashboard, EveryPanelStaysReadableAt200Nodes) {
  if (!have("promtool")) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  constexpr int kNodes = 200, kEndpoints = 5;
  std::ostringstream series;
  const auto add = [&](const std::string& s, const std::string& values) {
    series << "      - series: '" << s << "'\n        values: '" << values << "'\n";
  };
  for (int n = 0; n < kNodes; ++n) {
    const auto ip = "10.0." + std::to_string(n / 250) + "." + std::to_string(n % 250 + 1);
    const auto node = "ip-10-0-" + std::to_string(n / 250) + "-" + std::to_string(n % 250 + 1);
    const auto scrape = "container=\"reachprobe\",endpoint=\"metrics\",instance=\"" + ip +
                        ":9754\",job=\"reachprobe\",namespace=\"reachprobe\",node=\"" + node +
                        "\",pod=\"reachprobe-" + std::to_string(n) + "\"";
    add("up{" + scrape + "}", "1x10");
    add("reachprobe_build_info{" + scrape + ",version=\"0.1.0\"}", "1x10");
    add("reachprobe_config_last_reload_successful{" + scrape + "}", "1x10");
    add("reachprobe_scheduler_lag_seconds_bucket{" + scrape + ",le=\"0.01\"}", "0+10x10");
    add("reachprobe_scheduler_lag_seconds_bucket{" + scrape + ",le=\"+Inf\"}", "0+10x10");
    add("reachprobe_probes_skipped_total{" + scrape + ",target=\"t0\",reason=\"late\"}", "0+1x10");
    add("process_resident_memory_bytes{" + scrape + "}", "2e7x10");
    add("process_cpu_seconds_total{" + scrape + "}", "0+1x10");
    for (const char* source :
         {"endpointslices/default/kubernetes", "services/kube-system/kube-dns"}) {
      add("reachprobe_discovery_up{" + scrape + ",source=\"" + source + "\"}", "0x10");
      add("reachprobe_discovery_addresses{" + scrape + ",source=\"" + source + "\"}", "2x10");
      add("reachprobe_discovery_errors_total{" + scrape + ",source=\"" + source +
              "\",reason=\"connect\"}",
          "0+1x10");
    }
    for (int e = 0; e < kEndpoints; ++e) {
      // Endpoint 0 fails everywhere, node 1 fails everything; 2 outbound endpoints, the
      // node mesh, a dns query and the inbound path of the node.
      const bool failing = e == 0 || n == 1;
      std::string own;
      if (e < 2) {
        own = "dst=\"10.1.0." + std::to_string(e + 1) +
              ":443\",group=\"control-plane\",target=\"t" + std::to_string(e / 4) +
              "\",type=\"tcp\"";
      } else if (e == 2) {
        own = "dst=\"" + std::to_string(n) + ".mesh:9754\",group=\"node-mesh\",peer_node=\"ip-" +
              std::to_string(n) + "\",target=\"node-mesh\",type=\"tcp\"";
      } else if (e == 3) {
        own =
            "dst=\"kube-dns.kube-system.svc.cluster.local\",group=\"dns\",target=\"coredns\","
            "type=\"dns\"";
        add("reachprobe_dns_answers{" + scrape + "," + own + "}", "2x10");
      } else {
        own =
            "dst=\"" + ip + ":9443\",group=\"inbound\",target=\"webhook-inbound\",type=\"inbound\"";
      }
      const auto labels = scrape + "," + own;
      add("reachprobe_probe_success{" + labels + "}", failing ? "0x10" : "1x10");
      add("reachprobe_probes_total{" + labels + ",result=\"" + (failing ? "timeout" : "ok") + "\"}",
          "0+4x10");
      for (const char* le : {"0.05", "+Inf"}) {
        add("reachprobe_probe_duration_seconds_bucket{" + labels + ",phase=\"total\",le=\"" + le +
                "\"}",
            "0+4x10");
      }
    }
  }

  const auto d = dashboard();
  std::ostringstream tests;
  int checked = 0;
  for (const auto& [p, in_collapsed_row] : all_panels(d)) {
    const auto title = p.get<std::string>("title");
    if (in_collapsed_row || title == "Failing endpoints and why") continue;
    for (const auto& [_, t] : p.get_child("targets")) {
      auto expr = t.get<std::string>("expr");
      for (const auto& [var, value] :
           std::vector<std::pair<std::string, std::string>>{{"$cluster", ".*"},
                                                            {"$node", ".*"},
                                                            {"$target", ".*"},
                                                            {"$group", ".*"},
                                                            {"$__rate_interval", "2m"}}) {
        for (auto pos = expr.find(var); pos != std::string::npos; pos = expr.find(var, pos)) {
          expr.replace(pos, var.size(), value);
        }
      }
      ASSERT_EQ(expr.find('$'), std::string::npos) << title << ": " << expr;
      std::string quoted;
      for (char c : "(count(" + expr + ") or vector(0)) <= bool 25") {
        if (c == '\'')
          quoted += "''";
        else if (c == '\n')
          quoted += ' ';
        else
          quoted += c;
      }
      tests << "      # " << title << "\n      - expr: '" << quoted
            << "'\n        eval_time: 8m\n        exp_samples:\n          - labels: '{}'\n"
               "            value: 1\n";
      ++checked;
    }
  }
  EXPECT_GE(checked, 12);
  TempDir dir("reachprobe-dashboard-scale");
  const auto path = (dir / "scale.test.yaml").string();
  std::ofstream(path) << "evaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n"
                      << series.str() << "    promql_expr_test:\n"
                      << tests.str();
  auto r = run_command({"promtool", "test", "rules", path}, 170s);
  EXPECT_EQ(r.exit_code, 0) << r.out.substr(0, 20000) << r.err.substr(0, 4000);
}

TEST(Dashboard, ShowsPeerNodesAndDiscovery) {
  const auto d = dashboard();
  std::string exprs;
  for (const auto& [p, _] : all_panels(d)) {
    for (const auto& [__, t] : p.get_child("targets")) exprs += t.get<std::string>("expr") + "\n";
  }
  EXPECT_NE(exprs.find("avg by (peer_node, dst) (reachprobe_probe_success{cluster=~\"$cluster\", "
                       "group=\"node-mesh\"})"),
            std::string::npos)
      << exprs;
  EXPECT_NE(exprs.find("reachprobe_discovery_up"), std::string::npos);
  EXPECT_NE(exprs.find("reachprobe_discovery_addresses"), std::string::npos);
  EXPECT_NE(exprs.find("reachprobe_discovery_errors_total"), std::string::npos);
  // The dns query endpoint of the old mesh is gone: no query filters it out any more.
  EXPECT_EQ(exprs.find("dst=~\".+:[0-9]+\""), std::string::npos) << exprs;
}

}  // namespace
}  // namespace reachprobe::test
