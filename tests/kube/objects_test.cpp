#include "probe/kube/objects.hpp"

#include <gtest/gtest.h>

#include "probe/kube/event_stream.hpp"

namespace reachprobe::kube {
namespace {

boost::property_tree::ptree json(const std::string& text) {
  std::string error;
  auto tree = parse_json(text, error);
  EXPECT_TRUE(tree) << error;
  return tree.value_or(boost::property_tree::ptree{});
}

ParsedObject object_ok(const std::string& text, Resource resource) {
  auto parsed = parse_object(json(text), resource);
  if (auto* problem = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << *problem;
    return {};
  }
  return std::get<ParsedObject>(parsed);
}

std::string object_error(const std::string& text, Resource resource) {
  auto parsed = parse_object(json(text), resource);
  if (auto* problem = std::get_if<std::string>(&parsed)) return *problem;
  ADD_FAILURE() << "parsed: " << text;
  return "";
}

TEST(ParseObject, EndpointSliceEndpointsConditionsNodesZonesAndPorts) {
  const auto slice = object_ok(R"({
    "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
    "metadata": {"name": "am-abc", "resourceVersion": "42",
                 "labels": {"kubernetes.io/service-name": "am"}},
    "addressType": "IPv4",
    "endpoints": [
      {"addresses": ["10.0.1.5"], "conditions": {"ready": true, "serving": true, "terminating": false},
       "nodeName": "node-a", "zone": "eu-west-1a"},
      {"addresses": ["10.0.2.6"], "conditions": {"ready": false, "serving": true, "terminating": true},
       "nodeName": "node-b"},
      {"addresses": ["10.0.3.7"], "conditions": {}}
    ],
    "ports": [{"name": "web", "port": 9093, "protocol": "TCP"},
              {"name": "mesh-udp", "port": 9094, "protocol": "UDP"},
              {"name": "all", "port": null}]
  })",
                               Resource::EndpointSlices);
  EXPECT_EQ(slice.name, "am-abc");
  EXPECT_EQ(slice.resource_version, "42");
  ASSERT_EQ(slice.group.addresses.size(), 3u);
  EXPECT_EQ(slice.group.addresses[0].ip, "10.0.1.5");
  EXPECT_TRUE(slice.group.addresses[0].ready);
  EXPECT_EQ(slice.group.addresses[0].node, "node-a");
  EXPECT_EQ(slice.group.addresses[0].zone, "eu-west-1a");
  EXPECT_FALSE(slice.group.addresses[1].ready);
  EXPECT_TRUE(slice.group.addresses[1].terminating);
  EXPECT_EQ(slice.group.addresses[1].zone, "");
  // No ready condition: unknown, which counts as ready.
  EXPECT_TRUE(slice.group.addresses[2].ready);
  ASSERT_EQ(slice.group.ports.size(), 2u);  // the null port is no port to probe
  EXPECT_EQ(slice.group.ports[0], (DiscoveredPort{"web", 9093, "TCP"}));
  EXPECT_EQ(slice.group.ports[1], (DiscoveredPort{"mesh-udp", 9094, "UDP"}));
}

TEST(ParseObject, IPv6SlicesAndFqdnSlices) {
  const auto v6 = object_ok(R"({"metadata":{"name":"s"},"addressType":"IPv6",
      "endpoints":[{"addresses":["fd00::5"]}],"ports":[{"port":443}]})",
                            Resource::EndpointSlices);
  ASSERT_EQ(v6.group.addresses.size(), 1u);
  EXPECT_EQ(v6.group.addresses[0].ip, "fd00::5");
  EXPECT_EQ(v6.group.ports[0].protocol, "TCP");
  const auto fqdn = object_ok(R"({"metadata":{"name":"s"},"addressType":"FQDN",
      "endpoints":[{"addresses":["example.internal"]}],"ports":[{"port":443}]})",
                              Resource::EndpointSlices);
  EXPECT_TRUE(fqdn.group.addresses.empty());
  const auto none = object_ok(R"({"metadata":{"name":"s"},"addressType":"IPv4","endpoints":null})",
                              Resource::EndpointSlices);
  EXPECT_TRUE(none.group.addresses.empty());
}

TEST(ParseObject, BrokenSlicesSayWhat) {
  EXPECT_NE(object_error(R"({"metadata":{"name":"s"},"addressType":"IPv4",
      "endpoints":[{"addresses":["10.0.0.300"]}]})",
                         Resource::EndpointSlices)
                .find("not an IPv4 address"),
            std::string::npos);
  EXPECT_NE(object_error(R"({"metadata":{"name":"s"},"addressType":"IPv4",
      "endpoints":[{"addresses":["fd00::1"]}]})",
                         Resource::EndpointSlices)
                .find("not an IPv4 address"),
            std::string::npos);
  EXPECT_NE(object_error(R"({"metadata":{"name":"s"},"addressType":"IPv4",
      "ports":[{"port":70000}]})",
                         Resource::EndpointSlices)
                .find("70000"),
            std::string::npos);
  EXPECT_NE(object_error(R"({"metadata":{"name":"s"},"addressType":"IPv4",
      "endpoints":[{"addresses":["10.0.0.1"],"conditions":{"ready":"yes"}}]})",
                         Resource::EndpointSlices)
                .find("boolean"),
            std::string::npos);
  EXPECT_NE(object_error(R"({"metadata":{},"addressType":"IPv4"})", Resource::EndpointSlices)
                .find("metadata.name"),
            std::string::npos);
  EXPECT_NE(object_error(R"({"kind":"Pod","metadata":{"name":"p"}})", Resource::EndpointSlices)
                .find("kind 'Pod'"),
            std::string::npos);
}

TEST(ParseObject, ServiceClusterIpsHeadlessAndPorts) {
  const auto service = object_ok(R"({"kind":"Service","metadata":{"name":"kube-dns"},
      "spec":{"clusterIP":"10.100.0.10","clusterIPs":["10.100.0.10","fd00::a"],
              "ports":[{"name":"dns","port":53,"protocol":"UDP"},{"name":"dns-tcp","port":53,"protocol":"TCP"}]}})",
                                 Resource::Services);
  ASSERT_EQ(service.group.addresses.size(), 2u);
  EXPECT_EQ(service.group.addresses[0].ip, "10.100.0.10");
  EXPECT_EQ(service.group.addresses[1].ip, "fd00::a");
  ASSERT_EQ(service.group.ports.size(), 2u);
  EXPECT_EQ(service.group.ports[0].protocol, "UDP");
  const auto single =
      object_ok(R"({"metadata":{"name":"s"},"spec":{"clusterIP":"10.0.0.1"}})", Resource::Services);
  ASSERT_EQ(single.group.addresses.size(), 1u);
  const auto headless = object_ok(
      R"({"metadata":{"name":"s"},"spec":{"clusterIP":"None","clusterIPs":["None"],"ports":[{"port":80}]}})",
      Resource::Services);
  EXPECT_TRUE(headless.group.addresses.empty());
}

TEST(ParseList, ItemsAndResourceVersion) {
  auto parsed = parse_list(json(R"({"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1",
      "metadata":{"resourceVersion":"77"},
      "items":[{"metadata":{"name":"a"},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.1"]}]},
               {"metadata":{"name":"b"},"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.2"]}]}]})"),
                           Resource::EndpointSlices);
  ASSERT_TRUE(std::holds_alternative<ParsedList>(parsed)) << std::get<std::string>(parsed);
  const auto& list = std::get<ParsedList>(parsed);
  EXPECT_EQ(list.resource_version, "77");
  ASSERT_EQ(list.objects.size(), 2u);
  EXPECT_EQ(list.objects.at("b").addresses[0].ip, "10.0.0.2");
  DiscoveredSet set{list.objects};
  EXPECT_EQ(set.address_count(), 2u);

  auto empty =
      parse_list(json(R"({"kind":"ServiceList","metadata":{"resourceVersion":"3"},"items":[]})"),
                 Resource::Services);
  ASSERT_TRUE(std::holds_alternative<ParsedList>(empty));
  EXPECT_TRUE(std::get<ParsedList>(empty).objects.empty());
}

TEST(ParseList, WrongKindOrNoResourceVersionIsAnError) {
  auto status = parse_list(json(R"({"kind":"Status","code":403})"), Resource::EndpointSlices);
  ASSERT_TRUE(std::holds_alternative<std::string>(status));
  EXPECT_NE(std::get<std::string>(status).find("kind 'Status'"), std::string::npos);
  auto no_rv = parse_list(json(R"({"kind":"ServiceList","items":[]})"), Resource::Services);
  ASSERT_TRUE(std::holds_alternative<std::string>(no_rv));
  auto bad_item = parse_list(json(R"({"kind":"ServiceList","metadata":{"resourceVersion":"1"},
      "items":[{"metadata":{"name":"x"},"spec":{"clusterIP":"nonsense"}}]})"),
                             Resource::Services);
  ASSERT_TRUE(std::holds_alternative<std::string>(bad_item));
  EXPECT_NE(std::get<std::string>(bad_item).find("nonsense"), std::string::npos);
}

TEST(SourceKey, PathsAndNames) {
  SourceKey slices{Resource::EndpointSlices, "monitoring", "alertmanager-operated"};
  EXPECT_EQ(slices.to_string(), "endpointslices/monitoring/alertmanager-operated");
  EXPECT_EQ(slices.list_path(),
            "/apis/discovery.k8s.io/v1/namespaces/monitoring/endpointslices?labelSelector="
            "kubernetes.io%2Fservice-name%3Dalertmanager-operated");
  EXPECT_EQ(slices.rbac_resource(), "endpointslices.discovery.k8s.io");
  SourceKey services{Resource::Services, "kube-system", "kube-dns"};
  EXPECT_EQ(services.to_string(), "services/kube-system/kube-dns");
  EXPECT_EQ(services.list_path(),
            "/api/v1/namespaces/kube-system/services?fieldSelector=metadata.name%3Dkube-dns");
  EXPECT_EQ(services.rbac_resource(), "services");
}

}  // namespace
}  // namespace reachprobe::kube
