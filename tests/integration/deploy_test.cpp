// deploy/, config/eks.yaml and dashboards/: the files users apply, checked with the tools
// CI has (the built binary, promtool, kubectl's kustomize, the npm schema validator).
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "probe/config/env_expand.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/fake_imds.hpp"
#include "tests/support/helm.hpp"
#include "tests/support/temp_dir.hpp"

namespace reachprobe::test {
namespace {

using namespace std::chrono_literals;
namespace pt = boost::property_tree;

const std::string kBinary = REACHPROBE_BINARY;
const std::string kSourceDir = REACHPROBE_SOURCE_DIR;

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
  EXPECT_EQ(r.out.find("ClusterRole"), std::string::npos) << r.out;
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

TEST(AlertRules, PromtoolChecksAndUnitTestsPass) {
  if (!have("promtool")) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  const auto dir = kSourceDir + "/deploy/prometheus";
  auto check = run_command({"promtool", "check", "rules", dir + "/reachprobe-rules.yaml"}, 60s);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("SUCCESS: 11 rules found"), std::string::npos) << check.out;
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
  EXPECT_EQ(alerts.size(), 11u);
  for (const auto& a : alerts) {
    // A check expecting no alert, and one expecting this alert with its labels.
    EXPECT_TRUE(std::regex_search(tests, std::regex("alertname: " + a + "\n *exp_alerts: \\[\\]")))
        << a << " has no not-firing check";
    EXPECT_TRUE(
        std::regex_search(tests, std::regex("alertname: " + a + "\n *exp_alerts:\n *- exp_labels")))
        << a << " has no firing check";
  }
  // Each alert has a summary, a description and a runbook hint.
  for (const std::string key : {"summary:", "description:", "runbook:"}) {
    std::size_t n = 0;
    for (auto pos = rules.find(key); pos != std::string::npos; pos = rules.find(key, pos + 1)) ++n;
    EXPECT_EQ(n, alerts.size()) << key;
  }
}

pt::ptree dashboard() {
  pt::ptree tree;
  pt::read_json(kSourceDir + "/dashboards/reachprobe.json", tree);
  return tree;
}

TEST(Dashboard, HasADatasourceVariableAndTheFilterVariables) {
  const auto d = dashboard();
  EXPECT_GE(d.get<int>("schemaVersion"), 39);
  std::set<std::string> vars;
  for (const auto& [_, v] : d.get_child("templating.list")) vars.insert(v.get<std::string>("name"));
  EXPECT_EQ(vars, (std::set<std::string>{"datasource", "node", "target", "group"}));
  int queries = 0;
  for (const auto& [_, p] : d.get_child("panels")) {
    if (p.get<std::string>("type") == "row") continue;
    EXPECT_EQ(p.get<std::string>("datasource.uid"), "${datasource}") << p.get<std::string>("title");
    for (const auto& [__, t] : p.get_child("targets")) {
      EXPECT_EQ(t.get<std::string>("datasource.uid"), "${datasource}");
      ++queries;
    }
  }
  EXPECT_GE(queries, 10);
}

TEST(Dashboard, ShowsPeerNodesAndDiscovery) {
  const auto d = dashboard();
  std::string exprs;
  for (const auto& [_, p] : d.get_child("panels")) {
    if (p.get<std::string>("type") == "row") continue;
    for (const auto& [__, t] : p.get_child("targets")) exprs += t.get<std::string>("expr") + "\n";
  }
  EXPECT_NE(
      exprs.find("avg by (peer_node, endpoint) (reachprobe_probe_success{group=\"node-mesh\"})"),
      std::string::npos)
      << exprs;
  EXPECT_NE(exprs.find("reachprobe_discovery_up"), std::string::npos);
  EXPECT_NE(exprs.find("reachprobe_discovery_addresses"), std::string::npos);
  EXPECT_NE(exprs.find("reachprobe_discovery_errors_total"), std::string::npos);
  // The dns query endpoint of the old mesh is gone: no query filters it out any more.
  EXPECT_EQ(exprs.find("endpoint=~\".+:[0-9]+\""), std::string::npos) << exprs;
}

}  // namespace
}  // namespace reachprobe::test
