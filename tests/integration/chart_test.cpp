// The Helm chart deploy/helm/reachprobe, the one source of the manifests: `helm lint`, its
// renderings against the Kubernetes and prometheus-operator schemas, each value the user
// sets (kube-prometheus-stack's release, targets on/off, extra targets, scheduling, image),
// and the Roles it renders against the config it renders (exactly the requests made).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "probe/config/env_expand.hpp"
#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/helm.hpp"
#include "tests/support/rbac_policy.hpp"
#include "tests/support/temp_dir.hpp"

namespace reachprobe::test {
namespace {

using namespace std::chrono_literals;

const std::string kBinary = reachprobe_binary();
const std::string kSourceDir = source_dir();
const std::string kChart = kSourceDir + "/deploy/helm/reachprobe";
const std::string kKubePrometheusStackValues =
    kSourceDir + "/deploy/helm/values-kube-prometheus-stack.yaml";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

#define SKIP_WITHOUT_HELM()                                                             \
  if (helm_path(kSourceDir).empty()) {                                                  \
    GTEST_SKIP() << "no helm (scripts/install-deps.sh installs deploy/tools/bin/helm)"; \
  }

// helm template with ARGS; throws with Helm's stderr when it fails.
Manifests render(const std::vector<std::string>& args = {}) {
  auto r = helm_template(kSourceDir, args);
  if (r.exit_code != 0) throw std::runtime_error("helm template failed: " + r.err);
  return Manifests(r.out);
}

std::string config_of(const Manifests& m) {
  return m
      .find("ConfigMap", m.of_kind("DaemonSet")
                             .at(0)["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
                             .as<std::string>())["data"]["config.yaml"]
      .as<std::string>();
}

// KEY=VALUE of the ConfigMap the DaemonSet's container takes its environment from.
std::vector<std::string> env_of(const Manifests& m) {
  const auto container = m.of_kind("DaemonSet").at(0)["spec"]["template"]["spec"]["containers"][0];
  std::vector<std::string> env;
  for (const auto& from : container["envFrom"]) {
    const auto cm = m.find("ConfigMap", from["configMapRef"]["name"].as<std::string>());
    for (const auto& kv : cm["data"]) {
      env.push_back(kv.first.as<std::string>() + "=" + kv.second.as<std::string>());
    }
  }
  return env;
}

std::string env_value(const Manifests& m, const std::string& name) {
  for (const auto& kv : env_of(m)) {
    if (kv.starts_with(name + "=")) return kv.substr(name.size() + 1);
  }
  return "";
}

std::vector<std::string> target_names(const std::string& config_text) {
  std::vector<std::string> names;
  for (const auto& t : YAML::Load(config_text)["targets"])
    names.push_back(t["name"].as<std::string>());
  return names;
}

// `reachprobe validate` of a config with the environment a pod of `rendered` has.
CommandResult validate(const std::string& config_text, const Manifests& rendered) {
  TempDir dir("reachprobe-chart");
  const auto path = (dir.path() / "config.yaml").string();
  std::ofstream(path) << config_text;
  auto env = env_of(rendered);
  env.insert(env.end(), {"AWS_REGION=ap-southeast-1", "POD_NAMESPACE=reachprobe",
                         "POD_NAME=reachprobe-x7k2p", "POD_IP=10.0.1.5", "NODE_NAME=ip-10-0-1-5"});
  return run_command({kBinary, "validate", "--config", path}, 30s, env);
}

// A discovered target of config/eks.yaml: its service (NAMESPACE/NAME, expanded with the
// DaemonSet's environment) and what it reads.
struct Source {
  std::string target;
  std::string namespace_name;
  std::string name;
  std::string addresses;  // endpoints | cluster_ip
  std::string type;       // tcp, tls, dns
};

std::vector<Source> discovered_sources(const std::string& config_text,
                                       const std::vector<std::string>& env) {
  std::map<std::string, std::string> vars;
  for (const auto& kv : env) vars[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
  const config::EnvLookup lookup = [&](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  std::vector<Source> out;
  const auto root = YAML::Load(config_text);
  for (const auto& t : root["targets"]) {
    // `discover: webhooks` (inbound) names no Service here: requests_of() adds its calls.
    if (!t["discover"] || !t["discover"].IsMap()) continue;
    const auto service = config::expand_env(t["discover"]["service"].as<std::string>(), lookup);
    EXPECT_EQ(service.error, "") << t["name"].as<std::string>();
    const auto slash = service.value.find('/');
    out.push_back(
        {t["name"].as<std::string>(), service.value.substr(0, slash),
         service.value.substr(slash + 1),
         t["discover"]["addresses"] ? t["discover"]["addresses"].as<std::string>() : "endpoints",
         t["type"].as<std::string>("tcp")});
  }
  return out;
}

TEST(EksConfig, HasTheOutageMatrixDiscovered) {
  const auto text = read_file(kSourceDir + "/config/eks.yaml");
  EXPECT_NE(text.find("sts.${AWS_REGION}.amazonaws.com"), std::string::npos);
  EXPECT_NE(text.find("type: tls"), std::string::npos);
  EXPECT_NE(text.find("kubernetes.default.svc."), std::string::npos);
  // The control plane -> node and node -> node directions.
  EXPECT_NE(text.find("type: inbound\n    discover: webhooks"), std::string::npos);
  EXPECT_NE(text.find("type: kubelet"), std::string::npos);
  EXPECT_NE(text.find("max_connect: 5\n    exclude_self: true"), std::string::npos);
  // Nothing copied by hand, and no node -> ENI probe of a port the ENIs do not serve.
  for (const char* gone : {"EKS_API_HOST", "EKS_CONTROL_PLANE_IP", "KUBE_DNS_IP", "9443, 10250",
                           "ports: [443, 9443"}) {
    EXPECT_EQ(text.find(gone), std::string::npos) << gone;
  }

  std::map<std::string, std::string> by_target;  // target -> "addresses NS/NAME"
  for (const auto& s : discovered_sources(read_file(kSourceDir + "/config/eks.yaml"),
                                          {"POD_NAMESPACE=reachprobe"})) {
    by_target[s.target] = s.addresses + " " + s.namespace_name + "/" + s.name;
  }
  EXPECT_EQ(
      by_target,
      (std::map<std::string, std::string>{
          {"apiserver", "cluster_ip default/kubernetes"},
          {"control-plane-enis", "endpoints default/kubernetes"},
          {"alertmanager-service", "cluster_ip monitoring/kube-prometheus-stack-alertmanager"},
          {"alertmanager-pods", "endpoints monitoring/alertmanager-operated"},
          {"coredns", "cluster_ip kube-system/kube-dns"},
          {"coredns-pods", "endpoints kube-system/kube-dns"},
          {"coredns-tcp", "cluster_ip kube-system/kube-dns"},
          {"node-mesh", "endpoints reachprobe/reachprobe"},
          {"node-mesh-kubelet", "endpoints reachprobe/reachprobe"}}));
}

// A request reachprobe makes: verb, resource, namespace and the name it names (only a
// list/watch of Services does, by fieldSelector=metadata.name).
using Request = std::tuple<std::string, std::string, std::string, std::string>;

std::set<Request> requests_of(const std::string& config_text, const std::vector<Source>& sources,
                              const std::string& own_ns) {
  std::set<Request> used;
  for (const auto& s : sources) {
    for (const char* verb : {"list", "watch"}) {
      if (s.addresses == "cluster_ip") used.insert({verb, "services", s.namespace_name, s.name});
      // A tcp or tls ClusterIP target reads the Service's EndpointSlices too: their ready
      // count tells kube-proxy's reject from a missing listener.
      if (s.addresses != "cluster_ip" || s.type == "tcp" || s.type == "tls") {
        used.insert({verb, "endpointslices.discovery.k8s.io", s.namespace_name, ""});
      }
    }
  }
  // inbound targets (the API server's pod proxy) and kubelet targets (the pod log).
  for (const auto& t : YAML::Load(config_text)["targets"]) {
    const auto type = t["type"].as<std::string>("");
    if (type == "inbound") used.insert({"get", "pods/proxy", own_ns, ""});
    if (type == "kubelet") used.insert({"get", "pods/log", own_ns, ""});
    // discover: webhooks: the cluster-scoped webhook configurations and APIServices, and the
    // Services (and slices) they name, in whatever namespace (namespace "": cluster-wide).
    if (type == "inbound" && t["discover"] && t["discover"].IsScalar() &&
        t["discover"].as<std::string>() == "webhooks") {
      for (const char* verb : {"get", "list", "watch"}) {
        for (const char* resource : {"validatingwebhookconfigurations.admissionregistration.k8s.io",
                                     "mutatingwebhookconfigurations.admissionregistration.k8s.io",
                                     "apiservices.apiregistration.k8s.io"}) {
          used.insert({verb, resource, "", ""});
        }
      }
      for (const char* verb : {"list", "watch"}) {
        used.insert({verb, "services", "", ""});
        used.insert({verb, "endpointslices.discovery.k8s.io", "", ""});
      }
    }
  }
  return used;
}

// The manifests without the ClusterRoleBinding of webhook-inbound: what the namespaced Roles
// alone allow (its ClusterRole reads Services and EndpointSlices everywhere).
std::string without_cluster_role_binding(const std::string& rendered) {
  std::string out, doc, line;
  std::istringstream in(rendered);
  auto flush = [&] {
    if (doc.find("kind: ClusterRoleBinding\n") == std::string::npos) out += doc + "---\n";
    doc.clear();
  };
  while (std::getline(in, line)) {
    if (line == "---") {
      flush();
    } else {
      doc += line + "\n";
    }
  }
  flush();
  return out;
}

// The Roles of `policy` allow every request the config of `rendered` makes with the
// environment of `rendered` (its ConfigMap reachprobe-cluster), and nothing more.
void expect_roles_allow_exactly_what_the_config_requests(const RbacPolicy& policy,
                                                         const Manifests& rendered,
                                                         const std::string& what) {
  SCOPED_TRACE(what);
  const auto config = config_of(rendered);
  auto env = env_of(rendered);
  env.push_back("POD_NAMESPACE=reachprobe");
  const auto used = requests_of(config, discovered_sources(config, env), "reachprobe");
  for (const auto& [verb, resource, ns, name] : used) {
    EXPECT_TRUE(policy.allowed(verb, resource, ns, name))
        << verb << " " << resource << " in " << ns << " " << name << "\n"
        << policy.describe();
  }
  // Nothing more: every grant, spelled out, is a request the config makes. Cluster-wide only
  // webhook-inbound's; no other verb, resource, namespace or Service name.
  for (const auto& g : policy.grants()) {
    for (const auto& verb : g.rule.verbs) {
      for (const auto& resource : g.rule.resources) {
        for (const auto& group : g.rule.api_groups) {
          const auto full = group.empty() ? resource : resource + "." + group;
          const auto names =
              g.rule.resource_names.empty() ? std::vector<std::string>{""} : g.rule.resource_names;
          for (const auto& name : names) {
            EXPECT_TRUE(used.count({verb, full, g.namespace_name, name}))
                << "granted but never used: " << verb << " " << full << " in " << g.namespace_name
                << " " << name;
          }
        }
      }
    }
  }
}

TEST(Rbac, TheShippedRolesAllowExactlyTheRequestsOfTheShippedConfig) {
  if (RbacPolicy::kubectl_path(kSourceDir).empty()) GTEST_SKIP() << "no kubectl";
  // deploy/base as kustomize renders it (what `kubectl apply -k` applies).
  const auto policy = RbacPolicy::from_kustomization(kSourceDir + "/deploy/base", kSourceDir,
                                                     "reachprobe", "reachprobe");
  const Manifests base(read_file(kSourceDir + "/deploy/base/reachprobe.yaml"));
  expect_roles_allow_exactly_what_the_config_requests(policy, base, "deploy/base");
  // What a broader Role would have let through.
  EXPECT_FALSE(policy.allowed("get", "secrets", "reachprobe"));
  EXPECT_FALSE(policy.allowed("get", "nodes/proxy", ""));
  EXPECT_FALSE(policy.allowed("get", "services", "kube-system", "kube-dns"));  // list/watch only
  EXPECT_FALSE(
      policy.allowed("create", "mutatingwebhookconfigurations.admissionregistration.k8s.io", ""));
  // The namespaced Roles alone: exactly their namespaces and Service names.
  const auto roles = RbacPolicy::from_manifests(
      without_cluster_role_binding(read_file(kSourceDir + "/deploy/base/reachprobe.yaml")),
      "reachprobe", "reachprobe");
  EXPECT_TRUE(roles.allowed("list", "services", "kube-system", "kube-dns"));
  EXPECT_FALSE(roles.allowed("list", "endpointslices.discovery.k8s.io", ""));
  EXPECT_FALSE(roles.allowed("list", "endpointslices.discovery.k8s.io", "kube-public"));
  EXPECT_FALSE(roles.allowed("list", "services", "kube-system"));  // every Service
  EXPECT_FALSE(roles.allowed("list", "apiservices.apiregistration.k8s.io", ""));
}

TEST(Chart, LintPassesWithTheDefaultsAndTheKubePrometheusStackValues) {
  SKIP_WITHOUT_HELM();
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{}, std::vector<std::string>{"-f", kKubePrometheusStackValues}}) {
    std::vector<std::string> argv = {helm_path(kSourceDir), "lint", "--strict", kChart};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto r = run_command(argv, 60s);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("1 chart(s) linted, 0 chart(s) failed"), std::string::npos) << r.out;
  }
}

TEST(Chart, RenderingsPassTheKubernetesAndPrometheusOperatorSchemas) {
  SKIP_WITHOUT_HELM();
  if (run_command({"/bin/sh", "-c", "command -v node"}, 10s).exit_code != 0 ||
      !std::filesystem::exists(kSourceDir + "/deploy/tools/node_modules")) {
    GTEST_SKIP() << "node or deploy/tools/node_modules missing (scripts/install-deps.sh)";
  }
  const std::string helm = "'" + helm_path(kSourceDir) + "' template reachprobe '" + kChart +
                           "' --namespace reachprobe ";
  const std::string validator = " | node '" + kSourceDir + "/deploy/tools/validate.mjs'";
  auto defaults = run_command({"/bin/bash", "-c", "set -o pipefail; " + helm + validator}, 120s);
  EXPECT_EQ(defaults.exit_code, 0) << defaults.out << defaults.err;
  EXPECT_NE(defaults.out.find("ok   DaemonSet/reachprobe/reachprobe\n"), std::string::npos)
      << defaults.out;
  EXPECT_EQ(defaults.out.find("PodMonitor"), std::string::npos) << defaults.out;
  auto kps = run_command(
      {"/bin/bash", "-c",
       "set -o pipefail; " + helm + "-f '" + kKubePrometheusStackValues + "'" + validator},
      120s);
  EXPECT_EQ(kps.exit_code, 0) << kps.out << kps.err;
  for (const char* object :
       {"DaemonSet/reachprobe/reachprobe", "PodMonitor/reachprobe/reachprobe",
        "PrometheusRule/reachprobe/reachprobe", "ConfigMap/monitoring/reachprobe-dashboards",
        "Role/monitoring/reachprobe-alertmanager", "ServiceAccount/reachprobe/reachprobe"}) {
    EXPECT_NE(kps.out.find(std::string("ok   ") + object + "\n"), std::string::npos)
        << object << "\n"
        << kps.out;
  }
  EXPECT_NE(kps.out.find(" 0 invalid"), std::string::npos) << kps.out;
}

TEST(Chart, ItsDefaultConfigIsConfigEksYamlAndValidates) {
  SKIP_WITHOUT_HELM();
  const auto rendered = render();
  EXPECT_EQ(config_of(rendered), read_file(kSourceDir + "/config/eks.yaml"));
  auto r = validate(config_of(rendered), rendered);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(Chart, EveryShippedTargetHasAnOnOffValue) {
  const auto values = YAML::LoadFile(kChart + "/values.yaml");
  std::vector<std::string> keys;
  for (const auto& kv : values["targets"]) {
    keys.push_back(kv.first.as<std::string>());
    EXPECT_TRUE(kv.second.as<bool>()) << kv.first.as<std::string>() << " is off by default";
  }
  auto names = target_names(read_file(kSourceDir + "/config/eks.yaml"));
  std::sort(keys.begin(), keys.end());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(keys, names) << "deploy/helm/reachprobe/values.yaml `targets:` lists every target of "
                            "config/eks.yaml";
}

TEST(Chart, EachShippedTargetSwitchesOffAloneWithItsGrants) {
  SKIP_WITHOUT_HELM();
  const auto all = target_names(read_file(kSourceDir + "/config/eks.yaml"));
  ASSERT_GE(all.size(), 10u);
  for (const auto& name : all) {
    SCOPED_TRACE(name);
    const auto rendered = render({"--set", "targets." + name + "=false"});
    auto expected = all;
    expected.erase(std::find(expected.begin(), expected.end(), name));
    const auto config = config_of(rendered);
    EXPECT_EQ(target_names(config), expected);
    auto r = validate(config, rendered);
    EXPECT_EQ(r.exit_code, 0) << r.err << config;
    expect_roles_allow_exactly_what_the_config_requests(
        RbacPolicy::from_manifests(rendered.text(), "reachprobe", "reachprobe"), rendered,
        "targets." + name + "=false");
  }
}

// An Amazon Managed Prometheus user (no Alertmanager in the cluster) on EKS Pod Identity (no
// STS from the nodes): three values, and no Role in a monitoring namespace.
TEST(Chart, NoAlertmanagerAndNoIrsaAreValues) {
  SKIP_WITHOUT_HELM();
  const auto rendered =
      render({"--set", "targets.alertmanager-service=false,targets.alertmanager-pods=false",
              "--set", "targets.sts=false"});
  const auto names = target_names(config_of(rendered));
  for (const char* gone : {"alertmanager-service", "alertmanager-pods", "sts"}) {
    EXPECT_EQ(std::count(names.begin(), names.end(), gone), 0) << gone;
  }
  // Nor a comment of theirs: the header's table of variables is all that names Alertmanager.
  std::istringstream lines(config_of(rendered));
  for (std::string line; std::getline(lines, line);) {
    if (line.find("alertmanager") == std::string::npos) continue;
    EXPECT_TRUE(line.starts_with("# |")) << line;
  }
  for (const auto& role : rendered.of_kind("Role")) {
    EXPECT_NE(role["metadata"]["namespace"].as<std::string>(), "monitoring");
  }
  EXPECT_FALSE(rendered.find("RoleBinding", "reachprobe-alertmanager"));
  auto r = validate(config_of(rendered), rendered);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  expect_roles_allow_exactly_what_the_config_requests(
      RbacPolicy::from_manifests(rendered.text(), "reachprobe", "reachprobe"), rendered,
      "no alertmanager, no sts");
}

TEST(Chart, ATargetNameTheConfigDoesNotHaveIsAnError) {
  SKIP_WITHOUT_HELM();
  auto r = helm_template(kSourceDir, {"--set", "targets.alertmanger-pods=false"});
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_NE(r.err.find("targets.alertmanger-pods: the shipped config has no target of that name"),
            std::string::npos)
      << r.err;
  auto not_bool = helm_template(kSourceDir, {"--set-string", "targets.sts=no"});
  EXPECT_NE(not_bool.exit_code, 0) << not_bool.out;
  EXPECT_NE(not_bool.err.find("targets.sts: true or false"), std::string::npos) << not_bool.err;
}

TEST(Chart, ExtraTargetsAreAppendedToTheShippedOnes) {
  SKIP_WITHOUT_HELM();
  TempDir dir("reachprobe-chart");
  const auto values = (dir.path() / "values.yaml").string();
  std::ofstream(values) << "extraTargets:\n"
                           "  - name: ecr-api\n"
                           "    type: tls\n"
                           "    hosts: [\"api.ecr.${AWS_REGION}.amazonaws.com\"]\n"
                           "    ports: [443]\n"
                           "    labels: {group: aws}\n"
                           "  - name: internal-db\n"
                           "    type: tcp\n"
                           "    hosts: [198.18.0.10]\n"
                           "    ports: [5432]\n";
  const auto rendered = render({"-f", values, "--set", "targets.node-mesh=false"});
  auto expected = target_names(read_file(kSourceDir + "/config/eks.yaml"));
  expected.erase(std::find(expected.begin(), expected.end(), "node-mesh"));
  expected.insert(expected.end(), {"ecr-api", "internal-db"});
  EXPECT_EQ(target_names(config_of(rendered)), expected);
  const auto targets = YAML::Load(config_of(rendered))["targets"];
  EXPECT_EQ(targets[targets.size() - 1]["ports"][0].as<int>(), 5432);
  auto r = validate(config_of(rendered), rendered);
  EXPECT_EQ(r.exit_code, 0) << r.err << config_of(rendered);
}

// kube-prometheus-stack's own naming, worked out by hand from its _helpers.tpl
// ("kube-prometheus-stack.fullname", cut to 26 characters) and
// templates/alertmanager/service.yaml (<fullname>-alertmanager).
TEST(Chart, TheKubePrometheusStackReleaseNamesTheLabelsAndTheAlertmanagerService) {
  SKIP_WITHOUT_HELM();
  struct Case {
    std::vector<std::string> set;
    std::string release;
    std::string service;
  };
  const std::vector<Case> cases = {
      {{}, "kube-prometheus-stack", "kube-prometheus-stack-alertmanager"},
      {{"kubePrometheusStack.release=prometheus"},
       "prometheus",
       "prometheus-kube-prometheus-alertmanager"},
      // The release contains the chart's name: the release alone, cut to 26.
      {{"kubePrometheusStack.release=my-kube-prometheus-stack-production"},
       "my-kube-prometheus-stack-production",
       "my-kube-prometheus-stack-p-alertmanager"},
      // Cut after a '-': trimmed.
      {{"kubePrometheusStack.release=observability-promet"},
       "observability-promet",
       "observability-promet-kube-alertmanager"},
      {{"kubePrometheusStack.release=mon", "kubePrometheusStack.fullnameOverride=kps"},
       "mon",
       "kps-alertmanager"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.release);
    std::vector<std::string> args = {"-f", kKubePrometheusStackValues};
    for (const auto& s : c.set) args.insert(args.end(), {"--set", s});
    const auto rendered = render(args);
    EXPECT_EQ(
        rendered.find("PodMonitor", "reachprobe")["metadata"]["labels"]["release"].as<std::string>(
            ""),
        c.release);
    EXPECT_EQ(rendered.find("PrometheusRule", "reachprobe")["metadata"]["labels"]["release"]
                  .as<std::string>(""),
              c.release);
    EXPECT_EQ(env_value(rendered, "ALERTMANAGER_SERVICE"), c.service);
    const auto policy = RbacPolicy::from_manifests(rendered.text(), "reachprobe", "reachprobe");
    EXPECT_TRUE(policy.allowed("watch", "services", "monitoring", c.service)) << policy.describe();
    expect_roles_allow_exactly_what_the_config_requests(policy, rendered, c.release);
  }
}

TEST(Chart, KubePrometheusStacksNamespaceMovesAlertmanagerAndTheDashboard) {
  SKIP_WITHOUT_HELM();
  const auto rendered = render(
      {"-f", kKubePrometheusStackValues, "--set", "kubePrometheusStack.namespace=observability"});
  EXPECT_EQ(env_value(rendered, "ALERTMANAGER_NAMESPACE"), "observability");
  const auto policy = RbacPolicy::from_manifests(rendered.text(), "reachprobe", "reachprobe");
  EXPECT_TRUE(policy.allowed("watch", "endpointslices.discovery.k8s.io", "observability"));
  // The namespaced Roles (webhook-inbound's ClusterRole reads slices everywhere).
  EXPECT_FALSE(RbacPolicy::from_manifests(without_cluster_role_binding(rendered.text()),
                                          "reachprobe", "reachprobe")
                   .allowed("watch", "endpointslices.discovery.k8s.io", "monitoring"));
  EXPECT_TRUE(rendered.find("ConfigMap", "reachprobe-dashboards", "observability"));
  expect_roles_allow_exactly_what_the_config_requests(policy, rendered, "observability");
}

TEST(Chart, KubePrometheusStackObjectsComeWithItsValuesOnly) {
  SKIP_WITHOUT_HELM();
  const auto plain = render();
  for (const char* kind : {"PodMonitor", "PrometheusRule"}) {
    EXPECT_TRUE(plain.of_kind(kind).empty()) << kind;
  }
  EXPECT_FALSE(plain.find("ConfigMap", "reachprobe-dashboards"));

  const auto kps = render({"-f", kKubePrometheusStackValues});
  const auto pm = kps.find("PodMonitor", "reachprobe", "reachprobe");
  ASSERT_TRUE(pm);
  // Both DaemonSets' pods: the node's (reachprobe) and the pod vantage's (reachprobe-pod).
  EXPECT_EQ(pm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"].as<std::string>(""),
            "reachprobe");
  const auto names = pm["spec"]["selector"]["matchExpressions"][0];
  EXPECT_EQ(names["key"].as<std::string>(""), "app.kubernetes.io/name");
  EXPECT_EQ(names["operator"].as<std::string>(""), "In");
  ASSERT_EQ(names["values"].size(), 2u);
  EXPECT_EQ(names["values"][0].as<std::string>(""), "reachprobe");
  EXPECT_EQ(names["values"][1].as<std::string>(""), "reachprobe-pod");
  EXPECT_EQ(pm["spec"]["podMetricsEndpoints"][0]["port"].as<std::string>(""), "metrics");
  // The rules, as the rules file has them.
  const auto rule = kps.find("PrometheusRule", "reachprobe", "reachprobe");
  ASSERT_TRUE(rule);
  const auto groups =
      YAML::LoadFile(kSourceDir + "/deploy/prometheus/reachprobe-rules.yaml")["groups"];
  EXPECT_EQ(YAML::Dump(rule["spec"]["groups"]), YAML::Dump(groups));
  // The dashboard for Grafana's sidecar: its label, its folder, the JSON as dashboards/ has it.
  const auto cm = kps.find("ConfigMap", "reachprobe-dashboards", "monitoring");
  ASSERT_TRUE(cm);
  EXPECT_EQ(cm["metadata"]["labels"]["grafana_dashboard"].as<std::string>(""), "1");
  EXPECT_EQ(cm["metadata"]["annotations"]["grafana_folder"].as<std::string>(""), "reachprobe");
  EXPECT_EQ(cm["data"]["reachprobe.json"].as<std::string>(""),
            read_file(kSourceDir + "/dashboards/reachprobe.json"));
  // Each on its own, and the sidecar's label and folder as values.
  const auto only_rules = render({"--set", "kubePrometheusStack.prometheusRule.enabled=true"});
  EXPECT_TRUE(only_rules.of_kind("PodMonitor").empty());
  EXPECT_EQ(only_rules.of_kind("PrometheusRule").size(), 1u);
  const auto custom = render({"-f", kKubePrometheusStackValues, "--set",
                              "kubePrometheusStack.dashboards.label=dashboards,kubePrometheusStack."
                              "dashboards.folder=Network,kubePrometheusStack.dashboards.namespace="
                              "grafana"});
  const auto custom_cm = custom.find("ConfigMap", "reachprobe-dashboards", "grafana");
  ASSERT_TRUE(custom_cm);
  EXPECT_EQ(custom_cm["metadata"]["labels"]["dashboards"].as<std::string>(""), "1");
  EXPECT_EQ(custom_cm["metadata"]["annotations"]["grafana_folder"].as<std::string>(""), "Network");
}

TEST(Chart, RunbookUrlAndAdditionalRuleLabelsReachEveryAlertAndNothingElse) {
  SKIP_WITHOUT_HELM();
  const std::string rule_values = "kubePrometheusStack.prometheusRule.";
  const std::string runbooks = "https://wiki.example.test/network/reachprobe-runbooks";
  const auto rendered =
      render({"--set", rule_values + "enabled=true," + rule_values + "runbookUrl=" + runbooks +
                           "," + rule_values + "additionalRuleLabels.team=platform," + rule_values +
                           "additionalRuleLabels.escalation=a$1b"});
  const auto groups = rendered.of_kind("PrometheusRule").at(0)["spec"]["groups"];
  const auto source =
      YAML::LoadFile(kSourceDir + "/deploy/prometheus/reachprobe-rules.yaml")["groups"];
  ASSERT_EQ(groups.size(), source.size());
  std::size_t alerts = 0;
  std::size_t records = 0;
  for (std::size_t g = 0; g < source.size(); ++g) {
    ASSERT_EQ(groups[g]["rules"].size(), source[g]["rules"].size());
    for (std::size_t r = 0; r < source[g]["rules"].size(); ++r) {
      const auto got = groups[g]["rules"][r];
      const auto want = source[g]["rules"][r];
      if (!want["alert"]) {
        ++records;
        EXPECT_EQ(YAML::Dump(got), YAML::Dump(want)) << "a recording rule is changed";
        continue;
      }
      ++alerts;
      const auto name = want["alert"].as<std::string>();
      auto anchor = name;
      std::transform(anchor.begin(), anchor.end(), anchor.begin(), ::tolower);
      EXPECT_EQ(got["expr"].as<std::string>(), want["expr"].as<std::string>()) << name;
      EXPECT_EQ(got["annotations"]["runbook_url"].as<std::string>(""), runbooks + "#" + anchor);
      EXPECT_EQ(got["annotations"]["summary"].as<std::string>(),
                want["annotations"]["summary"].as<std::string>())
          << name;
      EXPECT_EQ(got["labels"]["severity"].as<std::string>(""),
                want["labels"]["severity"].as<std::string>())
          << name;
      EXPECT_EQ(got["labels"]["team"].as<std::string>(""), "platform") << name;
      EXPECT_EQ(got["labels"]["escalation"].as<std::string>(""), "a$1b") << name;
      EXPECT_EQ(got["labels"].size(), want["labels"].size() + 2) << name;
    }
  }
  EXPECT_GE(alerts, 10u);
  EXPECT_GE(records, 2u);

  // Helm stops at a name Prometheus would reject, and at the alerts' own severity.
  for (const auto& [label, error] : std::vector<std::pair<std::string, std::string>>{
           {"team-name", "\"team-name\" is not a Prometheus label name"},
           {"severity", "severity is each alert's own"}}) {
    const auto bad =
        helm_template(kSourceDir, {"--set", rule_values + "enabled=true," + rule_values +
                                                "additionalRuleLabels." + label + "=x"});
    EXPECT_NE(bad.exit_code, 0) << label;
    EXPECT_NE(bad.err.find(error), std::string::npos) << bad.err;
  }
}

TEST(Chart, SchedulesOnLinuxNodesThatRunDaemonSetsWhateverTheirTaints) {
  SKIP_WITHOUT_HELM();
  const auto pod = render().of_kind("DaemonSet").at(0)["spec"]["template"]["spec"];
  const auto terms = pod["affinity"]["nodeAffinity"]
                        ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
  ASSERT_EQ(terms.size(), 1u);
  std::set<std::string> expressions;
  for (const auto& e : terms[0]["matchExpressions"]) {
    std::string values;
    for (const auto& v : e["values"]) values += v.as<std::string>() + ",";
    expressions.insert(e["key"].as<std::string>() + " " + e["operator"].as<std::string>() + " " +
                       values);
  }
  EXPECT_EQ(expressions, (std::set<std::string>{"kubernetes.io/os In linux,",
                                                "eks.amazonaws.com/compute-type NotIn fargate,",
                                                "type NotIn virtual-kubelet,"}));
  ASSERT_EQ(pod["tolerations"].size(), 1u);
  EXPECT_EQ(YAML::Dump(pod["tolerations"][0]), "operator: Exists");
  EXPECT_EQ(pod["priorityClassName"].as<std::string>(""), "system-node-critical");
  EXPECT_TRUE(pod["hostNetwork"].as<bool>(false));
  // The user's own: a nodeSelector, an added podAntiAffinity keeps the node affinity.
  const auto custom = render({"--set", "nodeSelector.pool=general,priorityClassName=", "--set",
                              "resources.limits.memory=256Mi"})
                          .of_kind("DaemonSet")
                          .at(0)["spec"]["template"]["spec"];
  EXPECT_EQ(custom["nodeSelector"]["pool"].as<std::string>(""), "general");
  EXPECT_FALSE(custom["priorityClassName"]);
  EXPECT_EQ(custom["containers"][0]["resources"]["limits"]["memory"].as<std::string>(""), "256Mi");
  EXPECT_TRUE(custom["affinity"]["nodeAffinity"]);
}

TEST(Chart, ImageAndExtraEnvAreValues) {
  SKIP_WITHOUT_HELM();
  const auto defaults = render().of_kind("DaemonSet").at(0)["spec"]["template"]["spec"];
  const auto chart = YAML::LoadFile(kChart + "/Chart.yaml");
  EXPECT_EQ(defaults["containers"][0]["image"].as<std::string>(),
            "reachprobe:" + chart["appVersion"].as<std::string>());
  EXPECT_FALSE(defaults["imagePullSecrets"]);
  const auto pod = render({"--set",
                           "image.repository=123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/"
                           "reachprobe,image.tag=0.2.0,image.pullPolicy=Always",
                           "--set", "image.pullSecrets[0].name=ecr", "--set",
                           "extraEnv[0].name=REACHPROBE_INTERVAL,extraEnv[0].value=30s"})
                       .of_kind("DaemonSet")
                       .at(0)["spec"]["template"]["spec"];
  const auto c = pod["containers"][0];
  EXPECT_EQ(c["image"].as<std::string>(),
            "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com/reachprobe:0.2.0");
  EXPECT_EQ(c["imagePullPolicy"].as<std::string>(), "Always");
  EXPECT_EQ(pod["imagePullSecrets"][0]["name"].as<std::string>(""), "ecr");
  bool interval = false;
  for (const auto& e : c["env"]) {
    interval |= e["name"].as<std::string>() == "REACHPROBE_INTERVAL" &&
                e["value"].as<std::string>("") == "30s";
  }
  EXPECT_TRUE(interval) << YAML::Dump(c["env"]);
}

// Another release name renames the objects; the node mesh follows reachprobe's own Service.
TEST(Chart, ObjectNamesFollowTheReleaseAndTheMeshFindsItsService) {
  SKIP_WITHOUT_HELM();
  auto r = run_command(
      {helm_path(kSourceDir), "template", "probes", kChart, "--namespace", "reachprobe"}, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Manifests rendered(r.out);
  EXPECT_TRUE(rendered.find("DaemonSet", "probes-reachprobe"));
  EXPECT_TRUE(rendered.find("Service", "probes-reachprobe"));
  EXPECT_EQ(env_value(rendered, "REACHPROBE_SERVICE"), "probes-reachprobe");
  auto env = env_of(rendered);
  env.push_back("POD_NAMESPACE=reachprobe");
  const auto config = config_of(rendered);
  bool mesh = false;
  for (const auto& s : discovered_sources(config, env)) {
    if (s.target == "node-mesh") {
      mesh = true;
      EXPECT_EQ(s.namespace_name + "/" + s.name, "reachprobe/probes-reachprobe");
    }
  }
  EXPECT_TRUE(mesh);
  const auto policy = RbacPolicy::from_manifests(r.out, "reachprobe", "probes-reachprobe");
  EXPECT_TRUE(policy.allowed("watch", "endpointslices.discovery.k8s.io", "reachprobe"));
}

}  // namespace
}  // namespace reachprobe::test
