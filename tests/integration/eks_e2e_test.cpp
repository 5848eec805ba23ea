// The proof that the SHIPPED manifests work: deploy/base (the Helm chart's rendering with its
// defaults: its config ConfigMap, its reachprobe-cluster ConfigMap, its DaemonSet's env and
// args, its Roles), and the chart rendered for a kube-prometheus-stack release named
// `prometheus`, on a healthy simulated two-node EKS-like cluster, with nothing edited. Hosts are
// network namespaces on 198.18.0.0/15 (tests/support/netns.hpp); this namespace is node-a, where
// reachprobe runs, as the DaemonSet's pod would (host network).
//
// What stands in for what:
// - the API server: FakeApiServer in a host of its own, serving the EndpointSlices and
//   Services of `kubernetes`, `kube-dns`, Alertmanager and reachprobe (list + watch),
//   pods/proxy and pods/log, and answering 403 to whatever the Roles of
//   manifests do not allow (RbacPolicy);
// - the pod's file system: reachprobe runs in a mount namespace of its own (unshare -m)
//   where /run/secrets/kubernetes.io/serviceaccount holds the token and the CA of the
//   stand-in, /etc/resolv.conf names the kube-dns ClusterIP (dnsPolicy
//   ClusterFirstWithHostNet) and the system trust store is the test CA (which signed the
//   STS stand-in's certificate); nothing of this machine is changed;
// - the environment: the DaemonSet's env (its fieldRefs filled in as the kubelet would),
//   the reachprobe-cluster ConfigMap, and KUBERNETES_SERVICE_HOST/PORT (the kubelet sets
//   them); the `run` tests also set REACHPROBE_INTERVAL/REACHPROBE_TIMEOUT, which the
//   DaemonSet leaves unset (the config's defaults are 15s/3s), so that they take seconds;
// - control-plane ENIs, the `kubernetes` and kube-dns ClusterIPs, CoreDNS pods (dnsmasq),
//   Alertmanager's Service and pod, STS (openssl s_server) and node-b: hosts of their own.
// Two differences from the DaemonSet: the config file's path (the ConfigMap's content at
// another path) and `--listen` on a free loopback port (9754 of this machine is not the
// test's to take).
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>

#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/fake_imds.hpp"
#include "tests/support/helm.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/podman.hpp"
#include "tests/support/port_free.hpp"
#include "tests/support/rbac_policy.hpp"
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
const std::string kStsName = "sts.ap-southeast-1.amazonaws.com";  // the region IMDS names
const std::string kToken = "reachprobe-service-account-token";
constexpr auto kInterval = 2s;  // REACHPROBE_INTERVAL of the `run` tests

// What a rendering of the manifests ships: the config, the environment the DaemonSet
// gives its container (envFrom the ConfigMap; env from the downward API, as NAME and
// fieldPath, filled in per pod), its args, and its Roles.
struct Shipped {
  std::string rendered;
  std::string config;
  std::vector<std::string> env;
  std::vector<std::pair<std::string, std::string>> field_env;
  std::vector<std::string> args;
};

// The node DaemonSet (host network), or with `pod_network` the pod vantage's.
Shipped shipped_from(const std::string& rendered, bool pod_network = false) {
  Shipped shipped;
  shipped.rendered = rendered;
  std::map<std::string, YAML::Node> config_maps;
  YAML::Node pod;
  for (const auto& doc : YAML::LoadAll(rendered)) {
    if (!doc.IsMap()) continue;
    const auto kind = doc["kind"].as<std::string>();
    if (kind == "ConfigMap") config_maps[doc["metadata"]["name"].as<std::string>()] = doc;
    if (kind != "DaemonSet") continue;
    const auto spec = doc["spec"]["template"]["spec"];
    const bool host_network = spec["hostNetwork"] && spec["hostNetwork"].as<bool>();
    if (host_network != pod_network) pod = spec;
  }
  if (!pod) throw std::runtime_error("no DaemonSet in the manifests");
  const auto container = pod["containers"][0];
  for (const auto& arg : container["args"]) shipped.args.push_back(arg.as<std::string>());
  for (const auto& from : container["envFrom"]) {
    const auto& cm = config_maps.at(from["configMapRef"]["name"].as<std::string>());
    for (const auto& kv : cm["data"]) {
      shipped.env.push_back(kv.first.as<std::string>() + "=" + kv.second.as<std::string>());
    }
  }
  for (const auto& e : container["env"]) {
    if (e["value"]) {
      shipped.env.push_back(e["name"].as<std::string>() + "=" + e["value"].as<std::string>());
      continue;
    }
    shipped.field_env.emplace_back(e["name"].as<std::string>(),
                                   e["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>());
  }
  // The config: config.yaml of the ConfigMap mounted at /etc/reachprobe.
  for (const auto& volume : pod["volumes"]) {
    if (!volume["configMap"]) continue;
    const auto& cm = config_maps.at(volume["configMap"]["name"].as<std::string>());
    if (cm["data"]["config.yaml"]) shipped.config = cm["data"]["config.yaml"].as<std::string>();
  }
  if (shipped.config.empty()) throw std::runtime_error("no config.yaml in the DaemonSet's volumes");
  return shipped;
}

// `kubectl kustomize deploy/base`: what `kubectl apply -k deploy/base` applies.
Shipped render_deploy_base(bool pod_network = false) {
  auto r = run_command(
      {RbacPolicy::kubectl_path(kSourceDir), "kustomize", kSourceDir + "/deploy/base"}, 60s);
  if (r.exit_code != 0) throw std::runtime_error("kubectl kustomize: " + r.err);
  return shipped_from(r.out, pod_network);
}

// The kubelet of node-a: the API server's pods/log connects to it (and only connects). On
// node-a's address the API server's host dials, on a free port (10250 of this machine is
// not the test's).
class KubeletStandIn {
 public:
  explicit KubeletStandIn(const std::string& address)
      : acceptor_(io_, {boost::asio::ip::make_address(address), 0}) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~KubeletStandIn() {
    io_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket) {
      if (!ec) accept();  // the socket closes as it goes out of scope
    });
  }
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

// A TLS server in a host: openssl s_server on ADDRESS:443, the certificate of `name`.
class TlsServerInHost {
 public:
  TlsServerInHost(const TestHost& host, const TestPki& pki, const std::string& name,
                  const fs::path& dir) {
    const auto cert = pki.issue({name});
    write_file(dir / "sts.crt", cert.cert_pem);
    write_file(dir / "sts.key", cert.key_pem);
    process_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"ip", "netns", "exec", host.name(), "openssl", "s_server",
                                 "-quiet", "-accept", host.address() + ":443", "-cert",
                                 (dir / "sts.crt").string(), "-key", (dir / "sts.key").string()});
    const auto address = host.address();
    // Up when it accepts (the test reaches every host from here).
    if (!wait_until(
            [&] {
              boost::asio::io_context io;
              boost::asio::ip::tcp::socket s(io);
              boost::system::error_code ec;
              s.connect({boost::asio::ip::make_address(address), 443}, ec);
              return !ec;
            },
            10s, 50ms)) {
      throw std::runtime_error("openssl s_server did not start: " + process_->stderr_text());
    }
  }

 private:
  std::unique_ptr<ChildProcess> process_;
};

// node-a's instance metadata: the cluster's region, which no file of deploy/ names.
FakeImdsOptions node_a_placement() {
  FakeImdsOptions o;
  o.region = "ap-southeast-1";
  o.availability_zone = "ap-southeast-1a";
  return o;
}

// node-a's IMDS on a host one hop away, answering token PUTs with IP TTL 1 (a hop limit of
// 1): node-a gets its tokens, a pod behind node-a does not.
FakeImdsOptions imds_on(const TestHost& host) {
  FakeImdsOptions o = node_a_placement();
  o.netns = host.name();
  o.listen_address = host.address();
  o.put_answer_ttl = 1;
  return o;
}

// The simulated cluster. node-a is this namespace; every other machine is a host.
class SimulatedEks {
 public:
  // `policy`: the RBAC the API server enforces for reachprobe's service account.
  // `alertmanager_service`: kube-prometheus-stack's Alertmanager Service, which its chart
  // names after its release.
  SimulatedEks(const fs::path& dir, RbacPolicy policy,
               std::string alertmanager_service = "kube-prometheus-stack-alertmanager")
      : dir_(dir),
        policy_(std::move(policy)),
        alertmanager_service_(std::move(alertmanager_service)) {
    // A control plane that serves only 443 on its ENIs (ENI A is the API server's host).
    eni_a_443_ = std::make_unique<ListenerInHost>(apiserver_host_, 443);
    eni_b_443_ = std::make_unique<ListenerInHost>(eni_b_, 443);
    kubernetes_cluster_ip_443_ = std::make_unique<ListenerInHost>(kubernetes_cluster_ip_, 443);
    am_service_9093_ = std::make_unique<ListenerInHost>(am_service_, 9093);
    am_pod_9093_ = std::make_unique<ListenerInHost>(am_pod_, 9093);
    node_b_9754_ = std::make_unique<ListenerInHost>(node_b_, 9754);
    node_b_10250_ = std::make_unique<ListenerInHost>(node_b_, 10250);  // node-b's kubelet
    sts_ = std::make_unique<TlsServerInHost>(sts_host_, pki_, kStsName, dir_);
    // CoreDNS: the ClusterIP and two pods, each answering the cluster's names and, as the
    // VPC resolver behind CoreDNS would, STS's name. Nothing is forwarded anywhere.
    const std::vector<std::string> records = {
        "--local=/cluster.local/", "--local=/amazonaws.com/",
        "--host-record=kubernetes.default.svc.cluster.local," + kubernetes_cluster_ip_.address(),
        "--host-record=" + kStsName + "," + sts_host_.address()};
    kube_dns_ = std::make_unique<Dnsmasq>(kube_dns_host_.name(), kube_dns_host_.address(), records);
    coredns_1_ =
        std::make_unique<Dnsmasq>(coredns_1_host_.name(), coredns_1_host_.address(), records);
    coredns_2_ =
        std::make_unique<Dnsmasq>(coredns_2_host_.name(), coredns_2_host_.address(), records);

    kubelet_ = std::make_unique<KubeletStandIn>(node_a_ip());
    start_apiserver();
  }

  // node-a's address as the control plane sees it: the pod IP (host network = node IP).
  std::string node_a_ip() const { return apiserver_host_.gateway_address(); }
  const TestHost& apiserver_host() const { return apiserver_host_; }
  const TestHost& eni_b() const { return eni_b_; }
  FakeApiServer& apiserver() { return *apiserver_; }
  // The cluster's CA: it signed the API server's and the STS stand-in's certificates.
  const TestPki& pki() const { return pki_; }
  // The API server is down: its listener and every connection closed.
  void stop_apiserver() { apiserver_->stop_serving(); }

  // The EndpointSlice of `kubernetes`: the ENIs' IPs, on https 443.
  void set_control_plane_enis(const std::vector<std::string>& ips) {
    std::vector<FakeSliceEndpoint> eps;
    for (const auto& ip : ips) eps.push_back({ip, true, "", ""});
    apiserver_->set_endpoint_slice("default", "kubernetes", "kubernetes", eps, {{"https", 443}});
  }

  // A pod of node-a in the pod network (the pod vantage's), as a CNI sets one up: its
  // default route via node-a, node-a forwarding for it (on these veths only), every host
  // routing its IP back through node-a; the API server's pods proxy dials it as `name`.
  void attach_pod(const TestHost& pod, const std::string& name) {
    auto forward = [](const TestHost& host) {
      auto r = run_command(
          {"sysctl", "-qw", "net.ipv4.conf." + host.root_interface() + ".forwarding=1"}, 10s);
      if (r.exit_code != 0) throw std::runtime_error("sysctl: " + r.err);
    };
    pod.exec({"ip", "route", "add", "default", "via", pod.gateway_address()});
    forward(pod);
    for (const TestHost* host :
         {&apiserver_host_, &eni_b_, &kubernetes_cluster_ip_, &sts_host_, &kube_dns_host_,
          &coredns_1_host_, &coredns_2_host_, &am_service_, &am_pod_, &node_b_, &imds_host_}) {
      host->exec({"ip", "route", "add", pod.address() + "/32", "via", host->gateway_address()});
      forward(*host);
    }
    apiserver_->add_pod(name, pod.address());
  }

  // Everything a pod sees of the cluster: the DaemonSet's env for this pod (`pod_name` and
  // `pod_ip` its downward API's; empty: node-a's reachprobe pod), plus what the kubelet
  // adds, plus `extra`.
  std::vector<std::string> pod_env(const Shipped& shipped, const std::vector<std::string>& extra,
                                   const std::string& pod_name = {},
                                   const std::string& pod_ip = {}) const {
    auto env = shipped.env;
    auto refs = field_refs();
    if (!pod_name.empty()) refs["metadata.name"] = pod_name;
    if (!pod_ip.empty()) refs["status.podIP"] = pod_ip;
    for (const auto& [name, field] : shipped.field_env) env.push_back(name + "=" + refs.at(field));
    env.push_back("KUBERNETES_SERVICE_HOST=" + apiserver_host_.address());
    env.push_back("KUBERNETES_SERVICE_PORT=" + std::to_string(apiserver_port_));
    // The node's instance metadata: cluster.env sets no region, the STS name takes IMDS's.
    env.push_back(imds_.environment());
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
  }

  // argv that runs `args` as the pod: its own mount namespace with the service account,
  // resolv.conf and trust store of the pod (see the file's comment).
  std::vector<std::string> in_pod(const std::vector<std::string>& args) const {
    write_file(dir_ / "token", kToken + "\n");
    write_file(dir_ / "ca.crt", pki_.ca_pem());
    write_file(dir_ / "resolv.conf", "nameserver " + kube_dns_host_.address() +
                                         "\nsearch reachprobe.svc.cluster.local "
                                         "svc.cluster.local cluster.local\noptions ndots:5\n");
    const std::string script =
        "set -e\n"
        "mount -t tmpfs -o mode=0755 pod-run /run\n"
        "mkdir -p /run/secrets/kubernetes.io/serviceaccount\n"
        "cp \"$0/token\" \"$0/ca.crt\" /run/secrets/kubernetes.io/serviceaccount/\n"
        "mount --bind \"$0/resolv.conf\" /etc/resolv.conf\n"
        "mount --bind \"$0/ca.crt\" /etc/ssl/certs/ca-certificates.crt\n"
        "exec \"$@\"\n";
    std::vector<std::string> argv = {"unshare", "--mount", "--propagation", "private",
                                     "/bin/sh", "-c",      script,          dir_.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  std::map<std::string, std::string> field_refs() const {
    return {{"spec.nodeName", "node-a"},
            {"metadata.name", "reachprobe-x7k2p"},
            {"metadata.namespace", "reachprobe"},
            {"status.podIP", node_a_ip()}};
  }

  // Addresses, for the assertions.
  std::string eni_a() const { return apiserver_host_.address(); }
  std::string kubernetes_cluster_ip() const { return kubernetes_cluster_ip_.address(); }
  std::string kube_dns_ip() const { return kube_dns_host_.address(); }
  std::string coredns_1() const { return coredns_1_host_.address(); }
  std::string coredns_2() const { return coredns_2_host_.address(); }
  std::string am_service() const { return am_service_.address(); }
  std::string am_pod() const { return am_pod_.address(); }
  std::string node_b() const { return node_b_.address(); }

 private:
  void start_apiserver();
  void publish_cluster_objects() {
    auto& api = *apiserver_;
    set_control_plane_enis({eni_a(), eni_b_.address()});
    api.set_service("default", "kubernetes", {kubernetes_cluster_ip()}, {{"https", 443}});
    const std::vector<FakePort> dns_ports = {
        {"dns", 53, "UDP"}, {"dns-tcp", 53}, {"metrics", 9153}};
    api.set_service("kube-system", "kube-dns", {kube_dns_ip()}, dns_ports);
    api.set_endpoint_slice("kube-system", "kube-dns-7xk2q", "kube-dns",
                           {{coredns_1(), true, "node-a", "ap-southeast-1a"},
                            {coredns_2(), true, "node-b", "ap-southeast-1b"}},
                           dns_ports);
    api.set_service("monitoring", alertmanager_service_, {am_service()},
                    {{"http-web", 9093}, {"reloader-web", 8080}});
    // The operator's headless Service.
    const std::vector<FakePort> am_ports = {
        {"http-web", 9093}, {"tcp-mesh", 9094}, {"udp-mesh", 9094, "UDP"}};
    api.set_service("monitoring", "alertmanager-operated", {"None"}, am_ports);
    api.set_endpoint_slice("monitoring", "alertmanager-operated-x2b9d", "alertmanager-operated",
                           {{am_pod(), true, "node-b", "ap-southeast-1b"}}, am_ports);
    // The AWS Load Balancer Controller's webhooks, as its chart creates them: the port the
    // control plane calls on nodes (webhook-inbound discovers it) is the unnamed Service
    // port's named targetPort, 9443 in the EndpointSlice.
    api.set_webhook_configuration(
        true, "aws-load-balancer-webhook",
        {{"mpod.elbv2.k8s.aws", "kube-system", "aws-load-balancer-webhook-service", std::nullopt,
          "/mutate-v1-pod", ""}});
    api.set_webhook_configuration(
        false, "aws-load-balancer-webhook",
        {{"vingress.elbv2.k8s.aws", "kube-system", "aws-load-balancer-webhook-service",
          std::nullopt, "/validate-networking-v1-ingress", ""}});
    api.set_service("kube-system", "aws-load-balancer-webhook-service", {"10.100.12.3"},
                    {{"", 443, "TCP", "webhook-server"}});
    api.set_endpoint_slice("kube-system", "aws-load-balancer-webhook-service-k2x9p",
                           "aws-load-balancer-webhook-service",
                           {{node_b(), true, "node-b", "ap-southeast-1b"}}, {{"", 9443}});
    api.set_api_service("v1.apps", "", "", std::nullopt);  // local: nothing to probe
    api.set_service("reachprobe", "reachprobe", {"None"}, {{"metrics", 9754}});
    api.set_endpoint_slice("reachprobe", "reachprobe-4fj8s", "reachprobe",
                           {{node_a_ip(), true, "node-a", "ap-southeast-1a"},
                            {node_b(), true, "node-b", "ap-southeast-1b"}},
                           {{"metrics", 9754}});
  }

  fs::path dir_;
  RbacPolicy policy_;
  std::string alertmanager_service_;
  TestPki pki_;
  TestHost apiserver_host_, eni_b_, kubernetes_cluster_ip_, sts_host_, kube_dns_host_,
      coredns_1_host_, coredns_2_host_, am_service_, am_pod_, node_b_, imds_host_;
  std::unique_ptr<ListenerInHost> eni_a_443_, eni_b_443_, kubernetes_cluster_ip_443_,
      am_service_9093_, am_pod_9093_, node_b_9754_, node_b_10250_;
  std::unique_ptr<TlsServerInHost> sts_;
  std::unique_ptr<Dnsmasq> kube_dns_, coredns_1_, coredns_2_;
  std::unique_ptr<KubeletStandIn> kubelet_;
  std::unique_ptr<FakeApiServer> apiserver_;
  std::uint16_t apiserver_port_ = 0;
  FakeImds imds_{imds_on(imds_host_)};
};

// ---- the stand-in API server's objects and RBAC (FakeApiServer's interface) ----

void SimulatedEks::start_apiserver() {
  FakeApiServerOptions options;
  options.certificate = pki_.issue({apiserver_host_.address()});
  options.listen_address = apiserver_host_.address();
  options.netns = apiserver_host_.name();
  options.token = kToken;
  options.namespace_name = "reachprobe";
  options.pod_name = "reachprobe-x7k2p";
  options.pod_ip = node_a_ip();
  options.kubelet_port = kubelet_->port();
  options.dial_timeout = 1s;
  options.authorize_named = [this](const std::string& verb, const std::string& resource,
                                   const std::string& ns, const std::string& name) {
    return policy_.allowed(verb, resource, ns, name);
  };
  apiserver_ = std::make_unique<FakeApiServer>(options);
  apiserver_port_ = apiserver_->port();
  publish_cluster_objects();
}

// ---- reading what reachprobe says ----

struct Row {
  std::string result;
  std::string message;
};
std::map<std::pair<std::string, std::string>, Row> rows_of(const std::string& json) {
  std::map<std::pair<std::string, std::string>, Row> rows;
  pt::ptree tree;
  std::istringstream in(json);
  pt::read_json(in, tree);
  for (const auto& [_, r] : tree.get_child("results")) {
    rows[{r.get<std::string>("target"), r.get<std::string>("endpoint")}] = {
        r.get<std::string>("result"), r.get<std::string>("message", "")};
  }
  return rows;
}

std::string describe(const std::map<std::pair<std::string, std::string>, Row>& rows) {
  std::string out;
  for (const auto& [key, row] : rows) {
    out += key.first + " " + key.second + " " + row.result + " " + row.message + "\n";
  }
  return out;
}

// reachprobe_probe_success series of an exposition: "target endpoint" -> (value, labels).
struct Series {
  double value;
  std::string labels;
};
std::map<std::string, Series> success_series(const std::string& exposition) {
  std::map<std::string, Series> out;
  static const std::regex line(R"(^reachprobe_probe_success\{([^}]*)\} (\S+)$)");
  static const std::regex target(R"re(target="([^"]*)")re");
  static const std::regex endpoint(R"re(dst="([^"]*)")re");
  std::istringstream in(exposition);
  for (std::string l; std::getline(in, l);) {
    std::smatch m, t, e;
    if (!std::regex_match(l, m, line)) continue;
    const std::string labels = m[1];
    if (!std::regex_search(labels, t, target) || !std::regex_search(labels, e, endpoint)) continue;
    out[std::string(t[1]) + " " + std::string(e[1])] = {std::stod(m[2]), labels};
  }
  return out;
}

class EksE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    if (Dnsmasq::binary().empty()) GTEST_SKIP() << "dnsmasq is not installed (dnsmasq-base)";
    if (RbacPolicy::kubectl_path(kSourceDir).empty()) GTEST_SKIP() << "no kubectl";
    if (run_command({"unshare", "--mount", "true"}, 10s).exit_code != 0) {
      GTEST_SKIP() << "unshare --mount does not work here";
    }
    // webhook-inbound listens on 9443 of node-a, as on a node.
    if (!port_free(9443)) GTEST_SKIP() << "port 9443 is taken on this machine";
    shipped_ = render_deploy_base();
    write_file(dir_ / "config.yaml", shipped_.config);
  }
  // The cluster, its API server enforcing the Roles of `manifests` (the shipped ones unless
  // a test removes some).
  void start_cluster(const std::string& manifests, const std::string& alertmanager_service =
                                                       "kube-prometheus-stack-alertmanager") {
    cluster_ = std::make_unique<SimulatedEks>(
        dir_.path(), RbacPolicy::from_manifests(manifests, "reachprobe", "reachprobe"),
        alertmanager_service);
  }
  // `check` on the healthy cluster: every endpoint ok, each source listed under the Roles.
  void expect_healthy(const Shipped& s, const std::string& alertmanager_service);
  std::vector<std::string> daemonset_args(const Shipped& s, const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {kBinary};
    for (const auto& a : s.args) {
      // The ConfigMap's content, at another path than the pod's /etc/reachprobe.
      argv.push_back(a.starts_with("--config=") ? "--config=" + (dir_ / "config.yaml").string()
                                                : a);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  CommandResult check(const Shipped& s, const std::string& format) {
    std::vector<std::string> args = {kBinary, "check", "--config", (dir_ / "config.yaml").string()};
    if (!format.empty()) args.insert(args.end(), {"--format", format});
    return run_command(cluster_->in_pod(args), 60s, cluster_->pod_env(s, {}));
  }

  TempDir dir_{"reachprobe-eks-e2e"};
  Shipped shipped_;
  std::unique_ptr<SimulatedEks> cluster_;
};

// Every endpoint the shipped config has on the healthy cluster, by (target, endpoint).
std::set<std::pair<std::string, std::string>> expected_endpoints(const SimulatedEks& c) {
  return {
      {"apiserver", c.kubernetes_cluster_ip() + ":443"},
      {"control-plane-enis", c.eni_a() + ":443"},
      {"control-plane-enis", c.eni_b().address() + ":443"},
      {"sts", kStsName + ":443"},
      {"alertmanager-service", c.am_service() + ":9093"},
      {"alertmanager-pods", c.am_pod() + ":9093"},
      {"coredns", c.kube_dns_ip() + ":53"},
      {"coredns-pods", c.coredns_1() + ":53"},
      {"coredns-pods", c.coredns_2() + ":53"},
      {"coredns-tcp", c.kube_dns_ip() + ":53"},
      {"webhook-inbound", c.node_a_ip() + ":9443"},
      {"kubelet-inbound", c.node_a_ip() + ":10250"},
      {"node-mesh", c.node_b() + ":9754"},  // node-a itself: exclude_self
      {"node-mesh-kubelet", c.node_b() + ":10250"},
  };
}

void EksE2eTest::expect_healthy(const Shipped& s, const std::string& alertmanager_service) {
  auto table = check(s, "");
  std::cout << table.out;  // docs/deploying.md: `reachprobe check` on the healthy cluster
  EXPECT_EQ(table.exit_code, 0) << table.out << table.err;

  auto json = check(s, "json");
  ASSERT_EQ(json.exit_code, 0) << json.out << json.err;
  const auto rows = rows_of(json.out);
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& [key, row] : rows) {
    seen.insert(key);
    EXPECT_EQ(row.result, "ok") << key.first << " " << key.second << ": " << row.message;
  }
  EXPECT_EQ(seen, expected_endpoints(*cluster_)) << describe(rows);
  // Through the API, under the Roles: a list of each source.
  const auto requests = cluster_->apiserver().requests();
  std::string all;
  for (const auto& r : requests) all += r + "\n";
  for (const char* list :
       {"/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector="
        "kubernetes.io%2Fservice-name%3Dkubernetes",
        "/api/v1/namespaces/default/services?fieldSelector=metadata.name%3Dkubernetes",
        "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices?labelSelector="
        "kubernetes.io%2Fservice-name%3Dkube-dns",
        "/api/v1/namespaces/kube-system/services?fieldSelector=metadata.name%3Dkube-dns",
        "/apis/discovery.k8s.io/v1/namespaces/monitoring/endpointslices?labelSelector="
        "kubernetes.io%2Fservice-name%3Dalertmanager-operated",
        "/apis/discovery.k8s.io/v1/namespaces/reachprobe/endpointslices?labelSelector="
        "kubernetes.io%2Fservice-name%3Dreachprobe",
        "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
        "/apis/apiregistration.k8s.io/v1/apiservices",
        "/api/v1/namespaces/kube-system/services?fieldSelector=metadata.name%3D"
        "aws-load-balancer-webhook-service",
        "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices?labelSelector="
        "kubernetes.io%2Fservice-name%3Daws-load-balancer-webhook-service"}) {
    EXPECT_NE(all.find(list), std::string::npos) << list << "\n" << all;
  }
  const auto alertmanager =
      "/api/v1/namespaces/monitoring/services?fieldSelector=metadata.name%3D" +
      alertmanager_service;
  EXPECT_NE(all.find(alertmanager), std::string::npos) << alertmanager << "\n" << all;
}

TEST_F(EksE2eTest, TheShippedConfigFindsNothingFailingOnAHealthyCluster) {
  start_cluster(shipped_.rendered);
  expect_healthy(shipped_, "kube-prometheus-stack-alertmanager");
}

// kube-prometheus-stack installed as release `prometheus`: its Alertmanager Service is
// prometheus-kube-prometheus-alertmanager (its chart's fullname, cut to 26 characters). The
// chart rendered with that one value (and the kube-prometheus-stack values file) finds it.
TEST_F(EksE2eTest, TheChartForReleasePrometheusFindsNothingFailingOnAHealthyCluster) {
  if (helm_path(kSourceDir).empty()) GTEST_SKIP() << "no helm (scripts/install-deps.sh)";
  auto r = helm_template(
      kSourceDir, {"-f", kSourceDir + "/deploy/helm/values-kube-prometheus-stack.yaml", "--set",
                   "kubePrometheusStack.release=prometheus"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto s = shipped_from(r.out);
  write_file(dir_ / "config.yaml", s.config);
  start_cluster(s.rendered, "prometheus-kube-prometheus-alertmanager");
  expect_healthy(s, "prometheus-kube-prometheus-alertmanager");
}

// The API server enforces the Roles: without the kube-system Role of deploy/base, the
// CoreDNS sources are forbidden, and `check` says what the Role lacks. (The proof that
// the healthy case above passes *because* the shipped Roles allow it.)
TEST_F(EksE2eTest, ARoleMissingFromDeployBaseIsAForbiddenSourceThatCheckNames) {
  std::string without;
  std::istringstream docs(shipped_.rendered);
  std::string doc, line;
  auto flush = [&] {
    // The ClusterRole of webhook-inbound reads Services and EndpointSlices everywhere: its
    // binding goes too, or it would allow what the kube-system Role did.
    if ((doc.find("kind: Role\n") != std::string::npos &&
         doc.find("namespace: kube-system\n") != std::string::npos) ||
        doc.find("kind: ClusterRoleBinding\n") != std::string::npos) {
      doc.clear();
      return;
    }
    if (!doc.empty()) without += doc + "---\n";
    doc.clear();
  };
  while (std::getline(docs, line)) {
    if (line == "---") {
      flush();
    } else {
      doc += line + "\n";
    }
  }
  flush();
  ASSERT_FALSE(RbacPolicy::from_manifests(without, "reachprobe", "reachprobe")
                   .allowed("list", "endpointslices.discovery.k8s.io", "kube-system"));
  start_cluster(without);
  auto json = check(shipped_, "json");
  EXPECT_EQ(json.exit_code, 1) << json.out << json.err;
  const auto rows = rows_of(json.out);
  bool named = false;
  for (const auto& [key, row] : rows) {
    const bool coredns = key.first.starts_with("coredns");
    const bool webhooks = key.first == "webhook-inbound";  // its three cluster-scoped lists
    EXPECT_EQ(row.result, coredns || webhooks ? "error" : "ok") << key.first << " " << key.second;
    named |= row.message.find(
                 "forbidden (403): the service account needs RBAC `list` on "
                 "`endpointslices.discovery.k8s.io` in namespace kube-system") != std::string::npos;
  }
  EXPECT_TRUE(named) << describe(rows);
}

TEST_F(EksE2eTest, DroppingControlPlaneToNode9443FailsExactlyOneEndpointAsTimeout) {
  const auto& s = shipped_;
  start_cluster(s.rendered);
  // The node security group without the rule for 9443 from the cluster security group: the
  // control plane's SYNs to node-a:9443 vanish.
  cluster_->apiserver_host().nft(
      "table inet node_sg {\n chain output { type filter hook output priority 0; ip daddr " +
      cluster_->node_a_ip() + " tcp dport 9443 drop; }\n}\n");
  auto table = check(s, "");
  std::cout << table.out;  // docs/deploying.md: `reachprobe check` with 9443 dropped
  EXPECT_EQ(table.exit_code, 1) << table.out << table.err;

  auto json = check(s, "json");
  EXPECT_EQ(json.exit_code, 1) << json.out << json.err;
  const auto rows = rows_of(json.out);
  std::vector<std::string> failing;
  for (const auto& [key, row] : rows) {
    if (row.result != "ok") failing.push_back(key.first + " " + key.second + " " + row.result);
  }
  EXPECT_EQ(failing,
            std::vector<std::string>{"webhook-inbound " + cluster_->node_a_ip() + ":9443 timeout"})
      << describe(rows);
  EXPECT_EQ(rows.size(), expected_endpoints(*cluster_).size()) << describe(rows);
}

TEST_F(EksE2eTest, TheDaemonFollowsTheControlPlaneEnisAndKeepsThemWhenTheApiServerStops) {
  const auto& s = shipped_;
  start_cluster(s.rendered);
  const auto test_start = std::chrono::steady_clock::now();
  const auto port = free_tcp_port();
  ChildProcess daemon(
      cluster_->in_pod(daemonset_args(s, {"--listen=127.0.0.1:" + std::to_string(port)})),
      cluster_->pod_env(s, {"REACHPROBE_INTERVAL=2s", "REACHPROBE_TIMEOUT=1s"}));
  auto metrics = [&] { return http_get("127.0.0.1", port, "/metrics").body; };
  auto failing = [](const std::map<std::string, Series>& series) {
    std::string out;
    for (const auto& [key, s] : series) {
      if (s.value != 1) out += key + " " + s.labels + "\n";
    }
    return out;
  };
  auto keys = [](const std::map<std::string, Series>& series) {
    std::set<std::pair<std::string, std::string>> out;
    for (const auto& [key, _] : series) {
      out.insert({key.substr(0, key.find(' ')), key.substr(key.find(' ') + 1)});
    }
    return out;
  };

  // 1. Healthy: every endpoint up, none failing.
  std::string last;
  ASSERT_TRUE(wait_until(
      [&] {
        last = metrics();
        const auto series = success_series(last);
        return keys(series) == expected_endpoints(*cluster_) && failing(series).empty();
      },
      30s, 100ms))
      << last << daemon.stderr_text();
  const auto pid = daemon.pid();
  std::cout << "[eks-e2e] healthy after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - test_start)
                   .count()
            << " ms\n";
  const auto started = sample(last, "process_start_time_seconds");
  // Discovered endpoints carry the slice's node name.
  EXPECT_NE(success_series(last)["node-mesh " + cluster_->node_b() + ":9754"].labels.find(
                "peer_node=\"node-b\""),
            std::string::npos)
      << last;

  // 2. EKS replaces ENI B: the slice moves to a new IP, then the old ENI goes away.
  TestHost eni_c;
  ListenerInHost eni_c_443(eni_c, 443);
  const std::string old_eni = cluster_->eni_b().address() + ":443";
  const std::string new_eni = eni_c.address() + ":443";
  const auto moved = std::chrono::steady_clock::now();
  cluster_->set_control_plane_enis({cluster_->eni_a(), eni_c.address()});
  std::string seen_failing;
  ASSERT_TRUE(wait_until(
      [&] {
        last = metrics();
        const auto series = success_series(last);
        seen_failing += failing(series);
        auto it = series.find("control-plane-enis " + new_eni);
        return it != series.end() && it->second.value == 1 &&
               !series.count("control-plane-enis " + old_eni);
      },
      10 * kInterval, 50ms))
      << last << daemon.stderr_text();
  const auto took = std::chrono::steady_clock::now() - moved;
  std::cout << "[eks-e2e] the new ENI probed and the old one's series gone "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms after the EndpointSlice moved\n";
  EXPECT_LE(took, 2 * kInterval);
  EXPECT_EQ(seen_failing, "");
  // Every series of the old ENI is gone, not only probe_success.
  EXPECT_EQ(last.find("dst=\"" + old_eni + "\""), std::string::npos) << last;
  EXPECT_EQ(daemon.pid(), pid);
  EXPECT_TRUE(daemon.running());
  EXPECT_EQ(sample(last, "process_start_time_seconds"), started);  // no restart
  EXPECT_EQ(last.find("result=\"timeout\""), std::string::npos) << last;

  // 3. The API server stops: the set is kept and still probed, and the failure shows.
  const std::string source = "endpointslices/default/kubernetes";
  const std::string new_eni_ok = "reachprobe_probes_total{dst=\"" + new_eni +
                                 "\",group=\"control-plane\",result=\"ok\",target=\"control-"
                                 "plane-enis\",type=\"tcp\"}";
  const std::string connect_errors =
      "reachprobe_discovery_errors_total{reason=\"connect\",source=\"" + source + "\"}";
  cluster_->stop_apiserver();
  // The open watch is cut: the source is down at once (a `stream` error)...
  ASSERT_TRUE(wait_until(
      [&] {
        last = metrics();
        return sample(last, "reachprobe_discovery_up{source=\"" + source + "\"}") ==
               std::optional<double>(0);
      },
      10 * kInterval, 100ms))
      << last << daemon.stderr_text();
  // ... its last known set is kept ...
  EXPECT_EQ(sample(last, "reachprobe_discovery_addresses{source=\"" + source + "\"}"),
            std::optional<double>(2))
      << last;
  // ... and still probed ...
  const double probes_then = sample(last, new_eni_ok).value_or(-1);
  ASSERT_GE(probes_then, 1) << new_eni_ok << "\n" << last;
  ASSERT_TRUE(wait_until(
      [&] {
        last = metrics();
        return sample(last, new_eni_ok).value_or(0) >= probes_then + 2;
      },
      10 * kInterval, 100ms))
      << last;
  // ... while every reconnect fails (`connect`, after the client's backoff and its
  // connect/handshake timeout).
  ASSERT_TRUE(wait_until(
      [&] {
        last = metrics();
        return sample(last, connect_errors).value_or(0) >= 1 &&
               sample(last, "reachprobe_discovery_up{source=\"" + source + "\"}") ==
                   std::optional<double>(0);
      },
      15 * kInterval, 100ms))
      << last << daemon.stderr_text();
  std::cout << "[eks-e2e] the API server down and retried after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - test_start)
                   .count()
            << " ms\n";
  const auto series = success_series(last);
  EXPECT_EQ(series.at("control-plane-enis " + new_eni).value, 1);
  EXPECT_EQ(series.at("control-plane-enis " + cluster_->eni_a() + ":443").value, 1);
  EXPECT_FALSE(series.count("control-plane-enis " + old_eni));
  // The state change is one log line, not one per retry.
  const auto log = daemon.stderr_text();
  std::size_t failing_lines = 0;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    failing_lines += line.find("discovery source failing") != std::string::npos &&
                     line.find("\"source\":\"" + source + "\"") != std::string::npos;
  }
  EXPECT_EQ(failing_lines, 1u) << log;
  std::cout << "[eks-e2e] daemon log (tail):\n"
            << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
}

// The healthy cluster again, with reachprobe run from THE IMAGE as the DaemonSet runs it:
// the node's network (hostNetwork: the e2e's node-a is this network namespace, so `podman
// run --network host`), the DaemonSet's securityContext read from the shipped manifests
// (user, read-only root file system, capabilities, privilege escalation), the config
// ConfigMap mounted where the DaemonSet mounts it, the service account where the kubelet
// mounts it, the pod's resolv.conf. The STS stand-in's CA enters the trust store as a user
// adds a private CA: an image derived FROM the image with update-ca-certificates; no
// reachprobe option names it.
class EksE2eInImageTest : public EksE2eTest {
 protected:
  void SetUp() override {
    if (auto why = image_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    EksE2eTest::SetUp();
  }
};

// The DaemonSet of `rendered` as `podman run` options: everything its pod spec says about
// the container's user, privileges, network and config mount (an option this cannot
// translate is a test failure, not something silently left out).
struct DaemonSetContainer {
  ContainerRun run;
  std::string config_mount;  // where the config ConfigMap is mounted
};
DaemonSetContainer daemonset_container(const std::string& rendered) {
  YAML::Node pod;
  for (const auto& doc : YAML::LoadAll(rendered)) {
    // The node's DaemonSet (the pod vantage's runs in the pod network).
    if (doc.IsMap() && doc["kind"].as<std::string>() == "DaemonSet" &&
        doc["metadata"]["name"].as<std::string>() == "reachprobe") {
      pod = doc["spec"]["template"]["spec"];
    }
  }
  if (!pod) throw std::runtime_error("no DaemonSet in the manifests");
  DaemonSetContainer out;
  auto& run = out.run;
  if (!pod["hostNetwork"].as<bool>(false))
    throw std::runtime_error("the DaemonSet: no hostNetwork");
  run.network = "host";
  const auto pod_security = pod["securityContext"];
  const auto container = pod["containers"][0];
  const auto security = container["securityContext"];
  auto field = [&](const char* name) {
    return security[name] ? security[name] : pod_security[name];
  };
  if (!field("runAsUser") || !field("runAsGroup")) {
    throw std::runtime_error("the DaemonSet names no runAsUser/runAsGroup");
  }
  run.user = field("runAsUser").as<std::string>() + ":" + field("runAsGroup").as<std::string>();
  run.read_only = security["readOnlyRootFilesystem"].as<bool>(false);
  run.no_new_privileges = !security["allowPrivilegeEscalation"].as<bool>(true);
  if (security["privileged"].as<bool>(false)) throw std::runtime_error("privileged");
  if (security["capabilities"]["add"]) throw std::runtime_error("capabilities.add");
  for (const auto& cap : security["capabilities"]["drop"])
    run.cap_drop.push_back(cap.as<std::string>());
  std::string config_volume;
  for (const auto& volume : pod["volumes"]) {
    if (volume["configMap"]) config_volume = volume["name"].as<std::string>();
  }
  for (const auto& mount : container["volumeMounts"]) {
    if (mount["name"].as<std::string>() == config_volume) {
      out.config_mount = mount["mountPath"].as<std::string>();
    }
  }
  if (out.config_mount.empty()) throw std::runtime_error("the config ConfigMap is not mounted");
  return out;
}

TEST_F(EksE2eInImageTest, TheImageFindsNothingFailingOnAHealthyCluster) {
  const auto& s = shipped_;
  start_cluster(s.rendered);
  auto container = daemonset_container(s.rendered);
  // The securityContext the DaemonSet ships (what this test then runs with).
  EXPECT_EQ(container.run.user, "65532:65532");
  EXPECT_TRUE(container.run.read_only);
  EXPECT_EQ(container.run.cap_drop, std::vector<std::string>{"ALL"});
  EXPECT_TRUE(container.run.no_new_privileges);

  // A user's private CA, added the Debian way in an image FROM the shipped one.
  const fs::path context = dir_ / "derived-image";
  fs::create_directories(context);
  write_file(context / "private-ca.crt", cluster_->pki().ca_pem());
  DerivedImage image(test_image(), context,
                     {"USER root", "COPY private-ca.crt /usr/local/share/ca-certificates/",
                      "RUN update-ca-certificates", "USER 65532:65532"});

  // What the kubelet mounts: the ConfigMap's files, the service account, resolv.conf.
  const fs::path config_dir = dir_ / "configmap";
  const fs::path account = dir_ / "serviceaccount";
  fs::create_directories(config_dir);
  fs::create_directories(account);
  write_file(config_dir / "config.yaml", s.config);
  write_file(account / "token", kToken + "\n");
  write_file(account / "ca.crt", cluster_->pki().ca_pem());
  write_file(dir_ / "pod-resolv.conf", "nameserver " + cluster_->kube_dns_ip() +
                                           "\nsearch reachprobe.svc.cluster.local "
                                           "svc.cluster.local cluster.local\noptions ndots:5\n");
  auto run = container.run;
  run.image = image.name();
  run.mounts = {{config_dir, container.config_mount},
                {account, "/var/run/secrets/kubernetes.io/serviceaccount"},
                {dir_ / "pod-resolv.conf", "/etc/resolv.conf"}};
  run.env = cluster_->pod_env(s, {"REACHPROBE_TEST_SUITE=1"});
  std::string config_arg;
  for (const auto& a : s.args) {
    if (a.starts_with("--config=")) config_arg = a.substr(std::string("--config=").size());
  }
  ASSERT_EQ(config_arg, container.config_mount + "/config.yaml");
  run.args = {"check", "--config", config_arg, "--format", "json"};

  auto json = run_container(run, 120s);
  ASSERT_EQ(json.exit_code, 0) << json.out << json.err;
  const auto rows = rows_of(json.out);
  std::set<std::pair<std::string, std::string>> seen;
  std::vector<std::string> failing;
  for (const auto& [key, row] : rows) {
    seen.insert(key);
    if (row.result != "ok") failing.push_back(key.first + " " + key.second + " " + row.result);
  }
  EXPECT_EQ(failing, std::vector<std::string>{}) << describe(rows);
  EXPECT_EQ(seen, expected_endpoints(*cluster_)) << describe(rows);
  std::cout << "[eks-e2e] from the image: " << rows.size() << " endpoints, " << failing.size()
            << " failing\n";
}

// The pod vantage's DaemonSet as deploy/base ships it, in a pod namespace behind node-a,
// its own service account's Roles enforced: every endpoint a success, imds included (the
// token PUT times out behind the hop limit of 1, which is what `expect: closed` asks).
TEST_F(EksE2eTest, ThePodVantageDaemonSetFindsNothingFailingOnAHealthyCluster) {
  const Shipped pod_ds = render_deploy_base(true);
  write_file(dir_ / "pod-config.yaml", pod_ds.config);
  cluster_ = std::make_unique<SimulatedEks>(
      dir_.path(), RbacPolicy::from_manifests(pod_ds.rendered, "reachprobe", "reachprobe-pod"));
  TestHost pod;
  const std::string pod_name = "reachprobe-pod-q8x2z";
  cluster_->attach_pod(pod, pod_name);
  std::vector<std::string> argv = {"ip", "netns", "exec", pod.name()};
  for (const auto& a :
       cluster_->in_pod({kBinary, "check", "--config", (dir_ / "pod-config.yaml").string(),
                         "--format", "json"})) {
    argv.push_back(a);
  }
  auto r = run_command(argv, 60s, cluster_->pod_env(pod_ds, {}, pod_name, pod.address()));
  std::cout << r.out;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  pt::ptree tree;
  std::istringstream in(r.out);
  pt::read_json(in, tree);
  std::map<std::string, std::string> results;
  for (const auto& [_, row] : tree.get_child("results")) {
    const auto target = row.get<std::string>("target");
    results[target] = row.get<std::string>("result");
    EXPECT_TRUE(row.get<bool>("success")) << target << ": " << row.get<std::string>("message");
    EXPECT_EQ(row.get<std::string>("vantage"), "pod") << target;
  }
  EXPECT_EQ(results, (std::map<std::string, std::string>{{"apiserver", "ok"},
                                                         {"coredns", "ok"},
                                                         {"coredns-parallel", "ok"},
                                                         {"alertmanager-pods", "ok"},
                                                         {"imds", "timeout"},
                                                         {"webhook-inbound", "ok"}}))
      << r.out;
  EXPECT_EQ(tree.get<int>("failed"), 0) << r.out;
}

}  // namespace
}  // namespace reachprobe::test
