// The deploy/ rules and dashboards/ queries against a real Prometheus (Debian's package),
// scraping through the relabeling prometheus-operator generates for the shipped PodMonitor
// (tests/integration/fixtures/podmonitor-scrape-config.*.yaml): three `reachprobe run`
// instances stand for three nodes, as static targets carrying the __meta_kubernetes_*
// labels Kubernetes discovery gives their pods (Debian's Prometheus has no Kubernetes
// discovery, and no test talks to a real API server), plus a pod the relabeling must
// drop. Prometheus scrapes them every second with the alert rules loaded (their `for:`
// shortened to 2s), and through its HTTP API the test asserts: every target is up with
// the operator's labels; no series has an `exported_*` label (no label of reachprobe's is
// one the scrape sets; the raw expositions are checked too); the alerts fire for the
// refused endpoints and not for the good ones, one alert per failure; every query of every
// dashboard panel and variable parses and returns data.
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>

#include "probe/core/series_labels.hpp"
#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/dns_responder.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/fake_imds.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/test_pki.hpp"
#include "tests/support/wait.hpp"

namespace reachprobe::test {
namespace {

namespace asio = boost::asio;
namespace pt = boost::property_tree;
using asio::ip::tcp;
using namespace std::chrono_literals;

const std::string kBinary = reachprobe_binary();
const std::string kSourceDir = source_dir();

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool have(const std::string& program) {
  return run_command({"/bin/sh", "-c", "command -v " + program}, 10s).exit_code == 0;
}

// A query of the dashboard, where it comes from.
struct DashboardQuery {
  std::string where;
  std::string expr;
};

// Grafana's substitution of the dashboard's variables, as for a user who selected every
// node (multi-value: a regex alternation) and All for target and group.
std::string substitute(std::string expr, const std::string& nodes) {
  const std::vector<std::pair<std::string, std::string>> vars = {
      {"node", nodes},   {"target", ".*"},           {"group", ".*"},
      {"cluster", ".*"}, {"__rate_interval", "15s"}, {"__interval", "5s"},
      {"__range", "1m"}};
  for (const auto& [name, value] : vars) {
    for (const auto& form : {"${" + name + "}", "[[" + name + "]]", "$" + name}) {
      for (auto pos = expr.find(form); pos != std::string::npos; pos = expr.find(form, pos)) {
        // `$node` must not match the start of `$nodes`.
        const auto end = pos + form.size();
        if (form[0] == '$' && form[1] != '{' && end < expr.size() &&
            (std::isalnum(static_cast<unsigned char>(expr[end])) || expr[end] == '_')) {
          pos = end;
          continue;
        }
        expr.replace(pos, form.size(), value);
        pos += value.size();
      }
    }
  }
  return expr;
}

void collect_panels(const pt::ptree& panels, std::vector<DashboardQuery>& out) {
  for (const auto& [_, p] : panels) {
    if (auto nested = p.get_child_optional("panels")) collect_panels(*nested, out);
    auto targets = p.get_child_optional("targets");
    if (!targets) continue;
    for (const auto& [__, t] : *targets) {
      out.push_back({"panel '" + p.get<std::string>("title") + "' " + t.get<std::string>("refId"),
                     t.get<std::string>("expr")});
    }
  }
}

class PrometheusProof : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have("prometheus") || !have("promtool")) {
      GTEST_SKIP() << "prometheus/promtool not installed (Debian package prometheus; "
                      "scripts/install-deps.sh installs it)";
    }
    dir_ = std::filesystem::temp_directory_path() / ("reachprobe-prom-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "data");
    dns_.set("am.cluster.test", DnsRule::answer(std::vector<std::string>{"127.0.0.1"}));
    dns_.set("api.cluster.test", DnsRule::answer(std::vector<std::string>{"127.0.0.1"}));
    dns_.set("mesh.cluster.test", DnsRule::answer(std::vector<std::string>{"127.0.0.1"}));
    // A stand-in API server, so the inbound and kubelet targets (and their dashboard row)
    // have data: it dials back to each daemon's inbound listener and to a "kubelet".
    FakeApiServerOptions api;
    api.certificate = pki_.issue({"127.0.0.1"});
    api.kubelet_port = listener_.local_endpoint().port();
    // Discovery: one source the Role does not allow, so that the discovery panels and
    // their errors have data as well as the discovered endpoints.
    api.authorize = [](const std::string&, const std::string&, const std::string& ns) {
      return ns != "forbidden";
    };
    apiserver_ = std::make_unique<FakeApiServer>(api);
    apiserver_->set_endpoint_slice("monitoring", "alertmanager-operated-x2b9d",
                                   "alertmanager-operated",
                                   {{"127.0.0.1", true, "node-b", "zone-b"}},
                                   {{"http-web", listener_.local_endpoint().port()}});
    write("ca.crt", pki_.ca_pem());
    write("token", api.token + "\n");
  }
  void TearDown() override {
    daemons_.clear();  // stops them (SIGKILL by PID) if still running
    prometheus_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string write(const std::string& name, const std::string& text) {
    auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // `only_here`: a target of this node alone (no other node probes its endpoint).
  std::string node_config(std::uint16_t listen, bool imds = false, bool only_here = false) {
    const auto open = std::to_string(listener_.local_endpoint().port());
    const std::string own = only_here ? "  - name: node-c-only\n"
                                        "    type: tcp\n"
                                        "    hosts: [127.0.0.1]\n"
                                        "    ports: [" +
                                            std::to_string(closed_.port()) +
                                            "]\n"
                                            "    labels: {group: control-plane}\n"
                                      : "";
    return std::string(imds ? "aws: {imds: true}\n" : "") +
           "interval: 1s\n"
           "timeout: 500ms\n"
           "listen: 127.0.0.1:" +
           std::to_string(listen) +
           "\n"
           "dns:\n"
           "  servers: [" +
           dns_.server() +
           "]\n"
           "targets:\n"
           "  - name: apiserver\n"
           "    type: tcp\n"
           "    hosts: [127.0.0.1]\n"
           "    ports: [" +
           open +
           "]\n"
           "    labels: {group: control-plane}\n"
           "  - name: apiserver-by-name\n"
           "    type: tcp\n"
           "    hosts: [api.cluster.test.]\n"
           "    ports: [" +
           open +
           "]\n"
           "    labels: {group: control-plane}\n"
           "  - name: webhook\n"
           "    type: tcp\n"
           "    hosts: [127.0.0.1]\n"
           "    ports: [" +
           std::to_string(closed_.port()) +
           "]\n"
           "    labels: {group: control-plane}\n" +
           own +
           "  - name: alertmanager-pods\n"
           "    type: dns\n"
           "    query: am.cluster.test.\n"
           "    record: A\n"
           "    connect_port: " +
           open +
           "\n"
           "    labels: {group: monitoring}\n"
           "  - name: node-mesh\n"
           "    type: dns\n"
           "    query: mesh.cluster.test.\n"
           "    connect_port: " +
           open +
           "\n"
           "    max_connect: 5\n"
           "    labels: {group: node-mesh}\n"
           "  - name: alertmanager-discovered\n"
           "    type: tcp\n"
           "    discover: {service: monitoring/alertmanager-operated, port: http-web}\n"
           "    labels: {group: monitoring}\n"
           "  - name: forbidden-service\n"
           "    type: tcp\n"
           "    discover: {service: forbidden/alertmanager, addresses: cluster_ip, port: 9093}\n"
           "    labels: {group: monitoring}\n"
           "  - name: webhook-inbound\n"
           "    type: inbound\n"
           "    ports: [" +
           std::to_string(free_tcp_port()) +
           "]\n"
           "    interval: 2s\n"
           "    timeout: 1s\n"
           "    labels: {group: inbound}\n"
           "  - name: kubelet-inbound\n"
           "    type: kubelet\n"
           "    interval: 2s\n"
           "    timeout: 1s\n"
           "    labels: {group: inbound}\n"
           "kubernetes:\n"
           "  api_server: " +
           apiserver_->url() + "\n  token_file: " + (dir_ / "token").string() +
           "\n  ca_file: " + (dir_ / "ca.crt").string() +
           "\n  namespace: monitoring\n  pod_name: reachprobe-x7k2p\n  pod_ip: 127.0.0.1\n";
  }

  // GET /api/v1/... on Prometheus; the parsed JSON, or nullopt on a failed request.
  std::optional<pt::ptree> api(const std::string& target) {
    auto r = http_get("127.0.0.1", prom_port_, target, 5s);
    if (r.status == 0) return std::nullopt;
    pt::ptree tree;
    std::istringstream in(r.body);
    try {
      pt::read_json(in, tree);
    } catch (const std::exception&) {
      return std::nullopt;
    }
    return tree;
  }

  std::filesystem::path dir_;
  DnsResponder dns_;
  asio::io_context io_;
  tcp::acceptor listener_{io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  ClosedTcpPort closed_;
  std::uint16_t prom_port_ = 0;
  TestPki pki_;
  std::unique_ptr<FakeApiServer> apiserver_;
  std::vector<std::unique_ptr<ChildProcess>> daemons_;
  std::unique_ptr<ChildProcess> prometheus_;
};

TEST_F(PrometheusProof, TargetsUpAlertsFireAndEveryDashboardQueryReturnsData) {
  const auto started = std::chrono::steady_clock::now();
  const std::vector<std::string> nodes = {"node-a", "node-b", "node-c"};
  // node-a and node-b in two subnets of two zones (a stand-in IMDS each), node-c without
  // IMDS: the failing table groups by zone and subnet, and keeps node-c's rows.
  FakeImdsOptions placement_a, placement_b;
  placement_b.availability_zone = "eu-west-1b";
  placement_b.subnet_id = "subnet-0bb22cc33dd44ee55";
  placement_b.instance_id = "i-0fedcba98765432100";
  FakeImds imds_a(placement_a), imds_b(placement_b);
  const std::map<std::string, const FakeImds*> imds = {{"node-a", &imds_a}, {"node-b", &imds_b}};
  // The targets as Kubernetes discovery (role: pod) gives the reachprobe pods: the labels
  // the operator's relabeling reads. Plus a pod that relabeling must drop: another app's
  // container port of the same name.
  YAML::Node static_configs(YAML::NodeType::Sequence);
  const auto pod_target = [&](const std::string& address, const std::string& pod,
                              const std::string& node, const std::string& app) {
    YAML::Node t;
    t["targets"].push_back(address);
    auto labels = t["labels"];
    labels["__meta_kubernetes_namespace"] = "reachprobe";
    labels["__meta_kubernetes_pod_name"] = pod;
    labels["__meta_kubernetes_pod_node_name"] = node;
    labels["__meta_kubernetes_pod_phase"] = "Running";
    labels["__meta_kubernetes_pod_ready"] = "true";
    labels["__meta_kubernetes_pod_ip"] = "127.0.0.1";
    labels["__meta_kubernetes_pod_host_ip"] = "127.0.0.1";
    labels["__meta_kubernetes_pod_container_name"] = app;
    labels["__meta_kubernetes_pod_container_port_name"] = "metrics";
    labels["__meta_kubernetes_pod_container_port_number"] = address.substr(address.rfind(':') + 1);
    labels["__meta_kubernetes_pod_container_port_protocol"] = "TCP";
    labels["__meta_kubernetes_pod_controller_kind"] = "DaemonSet";
    labels["__meta_kubernetes_pod_controller_name"] = app;
    labels["__meta_kubernetes_pod_label_app_kubernetes_io_name"] = app;
    labels["__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name"] = "true";
    labels["__meta_kubernetes_pod_label_app_kubernetes_io_instance"] = "reachprobe";
    labels["__meta_kubernetes_pod_labelpresent_app_kubernetes_io_instance"] = "true";
    static_configs.push_back(t);
  };
  std::vector<std::string> expositions;  // the daemons' /metrics addresses
  for (const auto& node : nodes) {
    const auto port = free_tcp_port();
    const auto it = imds.find(node);
    const auto config =
        write(node + ".yaml", node_config(port, it != imds.end(), node == "node-c"));
    std::vector<std::string> env = {"NODE_NAME=" + node};
    if (it != imds.end()) env.push_back(it->second->environment());
    daemons_.push_back(std::make_unique<ChildProcess>(
        std::vector<std::string>{kBinary, "run", "--config", config}, env));
    const auto address = "127.0.0.1:" + std::to_string(port);
    pod_target(address, "reachprobe-" + node.substr(5) + "x7k2p", node, "reachprobe");
    expositions.push_back(address);
  }
  pod_target("127.0.0.1:" + std::to_string(closed_.port()), "node-exporter-q2w9z", "node-a",
             "node-exporter");

  // The operator's scrape config for the shipped PodMonitor, its kubernetes_sd_configs
  // replaced by those targets, $(SHARD) by 0 (prometheus-config-reloader's substitution);
  // scraped every second instead of 15s. The relabel_configs stay as the operator wrote them.
  auto job = YAML::LoadFile(
      kSourceDir +
      "/tests/integration/fixtures/podmonitor-scrape-config.prometheus-operator-v0.93.0.yaml")
      ["scrape_configs"][0];
  ASSERT_TRUE(job["kubernetes_sd_configs"]);
  job.remove("kubernetes_sd_configs");
  job["static_configs"] = static_configs;
  job["scrape_interval"] = "1s";
  YAML::Node prom(YAML::NodeType::Map);
  prom["global"]["scrape_interval"] = "1s";
  prom["global"]["scrape_timeout"] = "900ms";
  prom["global"]["evaluation_interval"] = "1s";
  prom["rule_files"].push_back("rules.yaml");
  prom["scrape_configs"].push_back(job);
  YAML::Emitter emitted;
  emitted << prom;
  const std::string job_text = emitted.c_str();
  ASSERT_NE(job_text.find("$(SHARD)"), std::string::npos);

  // The shipped rules, `for:` shortened so that the test sees them fire in seconds, and
  // the baseline group's interval too, so that it is evaluated while the test looks.
  const auto rules = std::regex_replace(
      std::regex_replace(read_file(kSourceDir + "/deploy/prometheus/reachprobe-rules.yaml"),
                         std::regex(R"(for: \d+[smh])"), "for: 2s"),
      std::regex(R"(interval: \d+[smh])"), "interval: 1s");
  write("rules.yaml", rules);
  prom_port_ = free_tcp_port();
  const auto prom_config =
      write("prometheus.yml", std::regex_replace(job_text, std::regex(R"(\$\(SHARD\))"), "0"));
  auto check = run_command({"promtool", "check", "config", prom_config}, 30s);
  ASSERT_EQ(check.exit_code, 0) << check.out << check.err;

  prometheus_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{"prometheus", "--config.file=" + prom_config,
                               "--storage.tsdb.path=" + (dir_ / "data").string(),
                               "--web.listen-address=127.0.0.1:" + std::to_string(prom_port_),
                               "--web.console.templates=" + dir_.string(),
                               "--web.console.libraries=" + dir_.string(), "--log.level=warn"});

  // 1. Every reachprobe target up, with the labels the operator's relabeling gives; the
  //    other app's pod dropped.
  std::string last;
  std::set<std::string> target_labels;  // name=value of every label of the active targets
  const bool up = wait_until(
      [&] {
        auto t = api("/api/v1/targets?state=any");
        if (!t) return false;
        int healthy = 0;
        std::set<std::string> labelled;
        target_labels.clear();
        for (const auto& [_, target] : t->get_child("data.activeTargets")) {
          if (target.get<std::string>("health") == "up") ++healthy;
          labelled.insert(target.get<std::string>("labels.node", ""));
          for (const auto& [name, value] : target.get_child("labels")) {
            target_labels.insert(name + "=" + value.data());
          }
        }
        last = std::to_string(healthy) + " up, " +
               std::to_string(t->get_child("data.droppedTargets").size()) + " dropped";
        return healthy == 3 && labelled == std::set<std::string>(nodes.begin(), nodes.end()) &&
               t->get_child("data.activeTargets").size() == 3 &&
               t->get_child("data.droppedTargets").size() == 1;
      },
      30s, 200ms);
  ASSERT_TRUE(up) << "targets: " << last << "\nprometheus stderr:\n" << prometheus_->stderr_text();
  for (const char* expected :
       {"job=reachprobe", "namespace=reachprobe", "container=reachprobe", "endpoint=metrics",
        "pod=reachprobe-ax7k2p", "pod=reachprobe-bx7k2p", "pod=reachprobe-cx7k2p"}) {
    EXPECT_TRUE(target_labels.contains(expected)) << expected;
  }
  std::cout << "[proof] 3 targets up after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count()
            << " ms\n";

  // 2. No label of any series reachprobe exposes is one the scrape sets: in the raw
  //    expositions (every family, discovery and IMDS included), and in Prometheus no
  //    series of the job has an exported_* label, and `endpoint` is the operator's.
  for (const auto& address : expositions) {
    const auto colon = address.rfind(':');
    const auto r =
        http_get(address.substr(0, colon),
                 static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))), "/metrics", 5s);
    ASSERT_EQ(r.status, 200) << address;
    std::set<std::string> names;
    static const std::regex label_name(R"re([{,]([a-zA-Z_][a-zA-Z0-9_]*)=")re");
    for (std::sregex_iterator it(r.body.begin(), r.body.end(), label_name), end; it != end; ++it) {
      names.insert((*it)[1]);
    }
    EXPECT_TRUE(names.contains("dst")) << address;
    for (const auto& name : names) {
      EXPECT_FALSE(is_scrape_target_label(name)) << address << " exposes " << name;
      EXPECT_NE(name, kShippedScrapeLabel) << address;
    }
  }
  const bool scraped = wait_until(
      [&] {
        auto r = api("/api/v1/query?query=" +
                     url_encode("count(reachprobe_probe_success{job=\"reachprobe\"})"));
        return r && !r->get_child("data.result").empty();
      },
      20s, 250ms);
  ASSERT_TRUE(scraped);
  auto labels = api("/api/v1/labels?match[]=" + url_encode("{job=\"reachprobe\"}"));
  ASSERT_TRUE(labels);
  std::set<std::string> stored;
  for (const auto& [_, name] : labels->get_child("data")) stored.insert(name.data());
  for (const auto& name : stored) EXPECT_FALSE(name.starts_with("exported_")) << name;
  for (const char* name : {"dst", "target", "type", "node", "namespace", "pod", "container",
                           "endpoint", "instance", "job", "peer_node", "zone", "source"}) {
    EXPECT_TRUE(stored.contains(name)) << name;
  }
  auto endpoints =
      api("/api/v1/label/endpoint/values?match[]=" + url_encode("{job=\"reachprobe\"}"));
  ASSERT_TRUE(endpoints);
  ASSERT_EQ(endpoints->get_child("data").size(), 1u);
  EXPECT_EQ(endpoints->get_child("data").front().second.data(), "metrics");

  // 3. The alerts: the endpoint every node is refused on pages once (the cluster-wide
  //    alert, holding the per-node ones); node-c's own refused endpoint is its per-node
  //    warning; nothing for the endpoints that answer.
  std::map<std::string, std::set<std::string>> firing;  // alertname -> node/target/result
  const bool fired = wait_until(
      [&] {
        auto a = api("/api/v1/alerts");
        if (!a) return false;
        firing.clear();
        for (const auto& [_, alert] : a->get_child("data.alerts")) {
          if (alert.get<std::string>("state") != "firing") continue;
          firing[alert.get<std::string>("labels.alertname")].insert(
              alert.get<std::string>("labels.node", "*") + "/" +
              alert.get<std::string>("labels.target", "") + "/" +
              alert.get<std::string>("labels.result", ""));
        }
        return !firing["ReachprobeEndpointFailing"].empty() &&
               !firing["ReachprobeEndpointFailingOnMostNodes"].empty();
      },
      40s, 250ms);
  std::string seen;
  for (const auto& [name, set] : firing) {
    for (const auto& s : set) seen += "  " + name + " " + s + "\n";
  }
  ASSERT_TRUE(fired) << "firing:\n" << seen;
  EXPECT_EQ(firing["ReachprobeEndpointFailing"],
            (std::set<std::string>{"node-c/node-c-only/refused"}))
      << seen;
  EXPECT_EQ(firing["ReachprobeEndpointFailingOnMostNodes"],
            (std::set<std::string>{"*/webhook/refused"}))
      << seen;
  for (const char* quiet :
       {"ReachprobeDown", "ReachprobeAbsent", "ReachprobeConfigReloadFailed",
        "ReachprobeDNSFailing", "ReachprobeNodeUnreachableFromPeers",
        "ReachprobeControlPlaneCannotReachNode", "ReachprobeControlPlaneCannotReachMostNodes",
        "ReachprobeControlPlaneCannotReachPodsOnMostNodes"}) {
    EXPECT_TRUE(firing[quiet].empty()) << quiet << "\n" << seen;
  }
  std::cout << "[proof] firing after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count()
            << " ms:\n"
            << seen;

  // Every rule, recording rules included, evaluates without error.
  std::string unhealthy;
  const bool healthy = wait_until(
      [&] {
        auto r = api("/api/v1/rules");
        if (!r) return false;
        unhealthy.clear();
        std::size_t n = 0;
        for (const auto& [_, group] : r->get_child("data.groups")) {
          for (const auto& [__, rule] : group.get_child("rules")) {
            ++n;
            if (rule.get<std::string>("health") != "ok") {
              unhealthy += "  " + rule.get<std::string>("name") + ": " +
                           rule.get<std::string>("health") + " " +
                           rule.get<std::string>("lastError", "") + "\n";
            }
          }
        }
        return n == 20 && unhealthy.empty();
      },
      20s, 250ms);
  EXPECT_TRUE(healthy) << unhealthy;

  // 4. Every query of every panel, and every variable, parses and returns series.
  pt::ptree dashboard;
  pt::read_json(kSourceDir + "/dashboards/reachprobe.json", dashboard);
  std::vector<DashboardQuery> queries;
  collect_panels(dashboard.get_child("panels"), queries);
  ASSERT_GE(queries.size(), 10u);
  const std::string all_nodes = "node-a|node-b|node-c";
  std::map<std::string, std::string> pending;  // where -> why not yet
  for (const auto& q : queries) pending[q.where] = "not asked";
  const bool answered = wait_until(
      [&] {
        for (const auto& q : queries) {
          if (!pending.count(q.where)) continue;
          const auto expr = substitute(q.expr, all_nodes);
          if (expr.find('$') != std::string::npos) {
            pending[q.where] = "a variable is left: " + expr;
            continue;
          }
          auto r = api("/api/v1/query?query=" + url_encode(expr));
          if (!r) continue;
          if (r->get<std::string>("status") != "success") {
            pending[q.where] = "error: " + r->get<std::string>("error", "") + "\n    " + expr;
            continue;
          }
          const auto n = r->get_child("data.result").size();
          // This proof runs the node vantage only and no `expect: closed` target: these
          // panels must parse and run here; their data is the pod vantage e2e's.
          const bool needs_pod_vantage =
              q.where.find("'Node vantage vs pod vantage") != std::string::npos ||
              q.where.find("'Paths that must be closed and are open'") != std::string::npos;
          if (n == 0 && needs_pod_vantage) {
            std::cout << "[proof] parses, no pod vantage here  " << q.where << "\n";
            pending.erase(q.where);
          } else if (n >= 1) {
            std::cout << "[proof] " << n << " series  " << q.where << "\n";
            pending.erase(q.where);
          } else {
            pending[q.where] = "no series: " + expr;
          }
        }
        return pending.empty();
      },
      30s, 500ms);
  std::string missing;
  for (const auto& [where, why] : pending) missing += "  " + where + ": " + why + "\n";
  EXPECT_TRUE(answered) << missing;

  // 5. The failing table joins reachprobe_node_info: zone and subnet on the rows of the
  //    nodes that have it, node-c's rows kept without them.
  std::map<std::string, std::string> placement;  // node -> "zone subnet"
  for (const auto& q : queries) {
    if (q.where.find("Failing endpoints") == std::string::npos) continue;
    auto r = api("/api/v1/query?query=" + url_encode(substitute(q.expr, all_nodes)));
    ASSERT_TRUE(r);
    for (const auto& [_, row] : r->get_child("data.result")) {
      placement[row.get<std::string>("metric.node")] =
          row.get<std::string>("metric.zone", "-") + " " +
          row.get<std::string>("metric.subnet_id", "-");
    }
  }
  EXPECT_EQ(placement,
            (std::map<std::string, std::string>{{"node-a", "eu-west-1a subnet-0aa11bb22cc33dd44"},
                                                {"node-b", "eu-west-1b subnet-0bb22cc33dd44ee55"},
                                                {"node-c", "- -"}}));
  // The grouping the description of ReachprobeEndpointFailingOnMostNodes gives.
  auto grouped = api("/api/v1/query?query=" +
                     url_encode("count by (zone, subnet_id) ((reachprobe_probe_success{target="
                                "\"webhook\"} == 0) * on (instance) group_left (zone, "
                                "subnet_id) reachprobe_node_info)"));
  ASSERT_TRUE(grouped);
  EXPECT_EQ(grouped->get_child("data.result").size(), 2u);

  // The variables: label_values(METRIC, LABEL) is Grafana's /api/v1/label/LABEL/values.
  const std::regex label_values(R"(label_values\((.*),\s*(\w+)\)$)");
  std::map<std::string, std::set<std::string>> expected = {
      {"node", {"node-a", "node-b", "node-c"}},
      {"group", {"control-plane", "monitoring", "node-mesh", "inbound"}},
      {"target",
       {"apiserver", "apiserver-by-name", "webhook", "alertmanager-pods", "node-mesh",
        "webhook-inbound", "kubelet-inbound", "alertmanager-discovered", "node-c-only"}},
      {"cluster", {}}};  // one Prometheus, no cluster label: the variable is empty
  for (const auto& [_, v] : dashboard.get_child("templating.list")) {
    if (v.get<std::string>("type") != "query") continue;
    const auto name = v.get<std::string>("name");
    std::smatch m;
    const auto q = v.get<std::string>("query.query");
    ASSERT_TRUE(std::regex_match(q, m, label_values)) << q;
    auto r = api("/api/v1/label/" + m[2].str() +
                 "/values?match[]=" + url_encode(substitute(m[1].str(), all_nodes)));
    ASSERT_TRUE(r) << name;
    std::set<std::string> values;
    for (const auto& [__, value] : r->get_child("data")) values.insert(value.data());
    EXPECT_EQ(values, expected[name]) << "variable " << name;
    std::cout << "[proof] variable " << name << ": " << values.size() << " values\n";
  }
  std::cout << "[proof] " << queries.size() << " panel queries answered in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count()
            << " ms in all\n";
}

}  // namespace
}  // namespace reachprobe::test
