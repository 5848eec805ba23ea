#include "probe/kube/inbound_ports.hpp"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <sstream>

#include "probe/kube/event_stream.hpp"
#include "probe/kube/expand.hpp"

namespace reachprobe::kube {
namespace {

using namespace std::chrono_literals;

// A list response as kube-apiserver writes it, parsed as discovery parses it.
DiscoveredSet listed(const std::string& json, Resource resource) {
  std::string error;
  auto tree = parse_json(json, error);
  EXPECT_TRUE(tree) << error;
  auto parsed = parse_list(*tree, resource);
  if (auto* problem = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << *problem;
    return {};
  }
  return DiscoveredSet{std::get<ParsedList>(parsed).objects};
}

// The objects the upstream charts create (trimmed to what matters; the shapes are theirs):
// istio's sidecar injector, Gatekeeper's two webhook configurations on one Service, the AWS
// Load Balancer Controller's (a named targetPort on an unnamed Service port), metrics-server's
// APIService (443 -> named `https` -> 4443), a local APIService and a URL webhook.
class Cluster {
 public:
  Cluster() {
    sets_[{Resource::MutatingWebhookConfigurations, "", ""}] =
        listed(R"({
      "kind": "MutatingWebhookConfigurationList", "apiVersion": "admissionregistration.k8s.io/v1",
      "metadata": {"resourceVersion": "7"},
      "items": [
        {"metadata": {"name": "istio-sidecar-injector"},
         "webhooks": [
           {"name": "rev.namespace.sidecar-injector.istio.io",
            "clientConfig": {"service": {"name": "istiod", "namespace": "istio-system",
                                         "path": "/inject", "port": 443}, "caBundle": "Cg=="}},
           {"name": "rev.object.sidecar-injector.istio.io",
            "clientConfig": {"service": {"name": "istiod", "namespace": "istio-system",
                                         "path": "/inject", "port": 443}}}]},
        {"metadata": {"name": "gatekeeper-mutating-webhook-configuration"},
         "webhooks": [{"name": "mutation.gatekeeper.sh",
            "clientConfig": {"service": {"name": "gatekeeper-webhook-service",
                                         "namespace": "gatekeeper-system", "path": "/v1/mutate"}}}]},
        {"metadata": {"name": "aws-load-balancer-webhook"},
         "webhooks": [{"name": "mpod.elbv2.k8s.aws",
            "clientConfig": {"service": {"name": "aws-load-balancer-webhook-service",
                                         "namespace": "kube-system", "path": "/mutate-v1-pod"}}}]}
      ]})",
               Resource::MutatingWebhookConfigurations);
    sets_[{Resource::ValidatingWebhookConfigurations, "", ""}] =
        listed(R"({
      "kind": "ValidatingWebhookConfigurationList", "metadata": {"resourceVersion": "7"},
      "items": [
        {"metadata": {"name": "gatekeeper-validating-webhook-configuration"},
         "webhooks": [{"name": "validation.gatekeeper.sh",
            "clientConfig": {"service": {"name": "gatekeeper-webhook-service",
                                         "namespace": "gatekeeper-system", "path": "/v1/admit"}}}]},
        {"metadata": {"name": "external-policy"},
         "webhooks": [{"name": "policy.example.com",
            "clientConfig": {"url": "https://policy.example.com/validate"}}]}
      ]})",
               Resource::ValidatingWebhookConfigurations);
    sets_[{Resource::ApiServices, "", ""}] = listed(R"({
      "kind": "APIServiceList", "metadata": {"resourceVersion": "7"},
      "items": [
        {"metadata": {"name": "v1.apps"}, "spec": {"group": "apps", "version": "v1", "service": null}},
        {"metadata": {"name": "v1beta1.metrics.k8s.io"},
         "spec": {"group": "metrics.k8s.io", "version": "v1beta1",
                  "service": {"name": "metrics-server", "namespace": "kube-system", "port": 443}}}
      ]})",
                                                    Resource::ApiServices);
    service("istio-system", "istiod",
            R"([{"name": "grpc-xds", "port": 15010, "targetPort": 15010},
                {"name": "https-webhook", "port": 443, "protocol": "TCP", "targetPort": 15017}])");
    service("gatekeeper-system", "gatekeeper-webhook-service",
            R"([{"name": "https-webhook-server", "port": 443, "targetPort": "webhook-server"}])");
    slices("gatekeeper-system", "gatekeeper-webhook-service",
           R"([{"name": "https-webhook-server", "port": 8443, "protocol": "TCP"}])");
    service("kube-system", "aws-load-balancer-webhook-service",
            R"([{"port": 443, "targetPort": "webhook-server", "protocol": "TCP"}])");
    slices("kube-system", "aws-load-balancer-webhook-service",
           R"([{"port": 9443, "protocol": "TCP"}])");
    service("kube-system", "metrics-server",
            R"([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}])");
    slices("kube-system", "metrics-server",
           R"([{"name": "https", "port": 4443, "protocol": "TCP"}])");
  }

  void service(const std::string& ns, const std::string& name, const std::string& ports) {
    sets_[{Resource::Services, ns, name}] =
        listed(R"({"kind": "ServiceList", "metadata": {"resourceVersion": "9"}, "items": [
                 {"metadata": {"name": ")" +
                   name + R"(", "namespace": ")" + ns +
                   R"("}, "spec": {"clusterIP": "10.100.0.9", "ports": )" + ports + "}}]}",
               Resource::Services);
  }
  void slices(const std::string& ns, const std::string& name, const std::string& ports) {
    sets_[{Resource::EndpointSlices, ns, name}] =
        listed(R"({"kind": "EndpointSliceList", "metadata": {"resourceVersion": "9"}, "items": [
                 {"metadata": {"name": ")" +
                   name + R"(-x1"}, "addressType": "IPv4",
                  "endpoints": [{"addresses": ["10.0.7.7"]}], "ports": )" +
                   ports + "}]}",
               Resource::EndpointSlices);
  }
  void erase(const SourceKey& key) { sets_.erase(key); }
  void empty(const SourceKey& key) { sets_[key] = DiscoveredSet{}; }

  SetLookup lookup() const {
    return [this](const SourceKey& key) -> const DiscoveredSet* {
      auto it = sets_.find(key);
      return it == sets_.end() ? nullptr : &it->second;
    };
  }

 private:
  std::map<SourceKey, DiscoveredSet> sets_;
};

const InboundConsumer kIstio{"MutatingWebhookConfiguration", "istio-sidecar-injector",
                             "istio-system/istiod:443"};
const InboundConsumer kGatekeeperMutating{"MutatingWebhookConfiguration",
                                          "gatekeeper-mutating-webhook-configuration",
                                          "gatekeeper-system/gatekeeper-webhook-service:443"};
const InboundConsumer kGatekeeperValidating{"ValidatingWebhookConfiguration",
                                            "gatekeeper-validating-webhook-configuration",
                                            "gatekeeper-system/gatekeeper-webhook-service:443"};
const InboundConsumer kLbc{"MutatingWebhookConfiguration", "aws-load-balancer-webhook",
                           "kube-system/aws-load-balancer-webhook-service:443"};
const InboundConsumer kMetrics{"APIService", "v1beta1.metrics.k8s.io",
                               "kube-system/metrics-server:443"};

TEST(InboundPorts, EachServiceReferenceResolvesToTheTargetPortAsKubeProxyDoes) {
  Cluster cluster;
  const auto found = resolve_inbound_ports(cluster.lookup());
  const std::map<std::uint16_t, std::vector<InboundConsumer>> expected = {
      {15017, {kIstio}},  // numeric targetPort
      // Named targetPort through the slice port named as the Service port; one port, two
      // consumers, one probe.
      {8443, {kGatekeeperMutating, kGatekeeperValidating}},
      {9443, {kLbc}},  // unnamed Service port: the slice's unnamed port
      {4443, {kMetrics}}};
  EXPECT_EQ(found.ports, expected);
  // The URL webhook is listed, not dropped; the local APIService is no consumer at all.
  ASSERT_EQ(found.not_probed.size(), 1u);
  EXPECT_EQ(found.not_probed[0].consumer.name, "external-policy");
  EXPECT_NE(found.not_probed[0].why.find("https://policy.example.com/validate"), std::string::npos);
  EXPECT_NE(found.not_probed[0].why.find("outside"), std::string::npos);
}

TEST(InboundPorts, TheSourcesFollowTheReferences) {
  Cluster cluster;
  const auto sources = referenced_sources(cluster.lookup());
  const std::set<SourceKey> expected = {
      {Resource::Services, "istio-system", "istiod"},
      {Resource::Services, "gatekeeper-system", "gatekeeper-webhook-service"},
      {Resource::EndpointSlices, "gatekeeper-system", "gatekeeper-webhook-service"},
      {Resource::Services, "kube-system", "aws-load-balancer-webhook-service"},
      {Resource::EndpointSlices, "kube-system", "aws-load-balancer-webhook-service"},
      {Resource::Services, "kube-system", "metrics-server"},
      {Resource::EndpointSlices, "kube-system", "metrics-server"}};
  // istiod's targetPort is a number: its slices are not watched.
  EXPECT_EQ(sources, expected);
  // Before the Services are listed, only the Services.
  Cluster fresh;
  for (const auto& key : expected) fresh.erase(key);
  EXPECT_EQ(referenced_sources(fresh.lookup()).size(), 4u);
}

TEST(InboundPorts, WhatCannotBeProbedSaysWhy) {
  Cluster cluster;
  // metrics-server as its newer charts run it: container port 10250, the kubelet's number.
  cluster.slices("kube-system", "metrics-server",
                 R"([{"name": "https", "port": 10250, "protocol": "TCP"}])");
  // istiod not installed (the webhook configuration left behind); the LBC's pods gone.
  cluster.empty({Resource::Services, "istio-system", "istiod"});
  cluster.empty({Resource::EndpointSlices, "kube-system", "aws-load-balancer-webhook-service"});
  const auto found = resolve_inbound_ports(cluster.lookup());
  EXPECT_EQ(found.ports.size(), 1u);  // gatekeeper's 8443
  std::map<std::string, std::string> why;
  for (const auto& u : found.not_probed) why[u.consumer.name] = u.why;
  EXPECT_NE(why["v1beta1.metrics.k8s.io"].find("10250 is the kubelet's port"), std::string::npos);
  EXPECT_NE(why["istio-sidecar-injector"].find("the Service istio-system/istiod does not exist"),
            std::string::npos);
  EXPECT_NE(why["aws-load-balancer-webhook"].find("targetPort 'webhook-server'"),
            std::string::npos);
  EXPECT_EQ(why.size(), 4u) << "and the URL webhook";
}

TEST(InboundPorts, AnInboundTargetGetsOneEndpointPerPortWithItsConsumers) {
  Cluster cluster;
  auto webhooks = std::make_shared<Target>();
  webhooks->name = "webhook-inbound";
  webhooks->type = ProbeType::Inbound;
  webhooks->discover_webhooks = true;
  webhooks->hosts = {"10.0.1.20"};
  webhooks->ports = {4443};  // listed too: one endpoint, with its consumers
  auto literal = std::make_shared<Target>();
  literal->name = "alb-webhook";
  literal->type = ProbeType::Inbound;
  literal->hosts = {"10.0.1.20"};
  literal->ports = {9443};  // another inbound target's port: probed there, not twice
  const std::vector<std::shared_ptr<const Target>> targets = {webhooks, literal};

  const auto endpoints = expand_all(targets, cluster.lookup(), "node-a");
  std::map<std::string, std::string> by_label;
  for (const auto& e : endpoints) {
    by_label[e.target_name() + " " + e.label] =
        e.consumers ? describe_consumers(*e.consumers) : "-";
  }
  const std::map<std::string, std::string> expected = {
      {"webhook-inbound 10.0.1.20:4443", "APIService v1beta1.metrics.k8s.io"},
      {"webhook-inbound 10.0.1.20:8443",
       "MutatingWebhookConfiguration gatekeeper-mutating-webhook-configuration, "
       "ValidatingWebhookConfiguration gatekeeper-validating-webhook-configuration"},
      {"webhook-inbound 10.0.1.20:15017", "MutatingWebhookConfiguration istio-sidecar-injector"},
      {"alb-webhook 10.0.1.20:9443", "-"}};
  EXPECT_EQ(by_label, expected);
  // The watches: the three webhook sources and what they reference.
  const auto sources = sources_of(targets, cluster.lookup());
  EXPECT_EQ(sources.size(), 3u + 7u);
  EXPECT_EQ(sources_of(targets).size(), 3u);
}

TEST(InboundPorts, TheConsumerSeriesAreOnePerConsumerAndPortAndFollowTheSet) {
  Cluster cluster;
  auto webhooks = std::make_shared<Target>();
  webhooks->name = "webhook-inbound";
  webhooks->type = ProbeType::Inbound;
  webhooks->discover_webhooks = true;
  webhooks->hosts = {"10.0.1.20"};
  prometheus::Registry registry;
  InboundConsumerInfo info(registry);
  auto render = [&registry] {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, registry.Collect());
    return out.str();
  };
  info.set(expand_all({webhooks}, cluster.lookup(), "node-a"));
  const auto text = render();
  EXPECT_NE(text.find("reachprobe_inbound_consumer_info{consumer=\"istio-sidecar-injector\","
                      "consumer_kind=\"MutatingWebhookConfiguration\",dst=\"10.0.1.20:15017\","
                      "target=\"webhook-inbound\"} 1"),
            std::string::npos)
      << text;
  std::size_t series = 0;
  for (std::size_t at = 0;
       (at = text.find("\nreachprobe_inbound_consumer_info{", at)) != std::string::npos; ++at)
    ++series;
  EXPECT_EQ(series, 5u) << text;
  cluster.erase({Resource::MutatingWebhookConfigurations, "", ""});
  info.set(expand_all({webhooks}, cluster.lookup(), "node-a"));
  EXPECT_EQ(render().find("istio-sidecar-injector"), std::string::npos);
}

TEST(ParseWebhooks, BadReferencesAreErrorsInWords) {
  std::string error;
  auto bad_port = parse_json(R"({"metadata":{"name":"w"},"webhooks":[{"name":"a",
      "clientConfig":{"service":{"name":"s","namespace":"n","port":70000}}}]})",
                             error);
  auto parsed = parse_object(*bad_port, Resource::ValidatingWebhookConfigurations);
  ASSERT_TRUE(std::holds_alternative<std::string>(parsed));
  EXPECT_NE(std::get<std::string>(parsed).find("port 70000"), std::string::npos);
  auto neither =
      parse_json(R"({"metadata":{"name":"w"},"webhooks":[{"name":"a","clientConfig":{}}]})", error);
  parsed = parse_object(*neither, Resource::MutatingWebhookConfigurations);
  ASSERT_TRUE(std::holds_alternative<std::string>(parsed));
  EXPECT_NE(std::get<std::string>(parsed).find("neither clientConfig.service nor clientConfig.url"),
            std::string::npos);
  auto wrong_kind = parse_json(R"({"kind":"Service","metadata":{"name":"w"}})", error);
  EXPECT_TRUE(
      std::holds_alternative<std::string>(parse_object(*wrong_kind, Resource::ApiServices)));
}

TEST(SourceKeys, ClusterScopedSourcesListWholeAndNameAClusterRole) {
  const SourceKey apiservices{Resource::ApiServices, "", ""};
  EXPECT_EQ(apiservices.to_string(), "apiservices");
  EXPECT_EQ(apiservices.list_path(), "/apis/apiregistration.k8s.io/v1/apiservices");
  EXPECT_EQ(apiservices.rbac_resource(), "apiservices.apiregistration.k8s.io");
  const SourceKey validating{Resource::ValidatingWebhookConfigurations, "", ""};
  EXPECT_EQ(validating.list_path(),
            "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations");
}

}  // namespace
}  // namespace reachprobe::kube
