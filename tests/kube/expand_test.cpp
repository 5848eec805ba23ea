#include "probe/kube/expand.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace reachprobe::kube {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<Target> discovered_target(ProbeType type = ProbeType::Tcp) {
  auto t = std::make_shared<Target>();
  t->name = "am";
  t->type = type;
  t->interval = 10s;
  t->timeout = 2s;
  t->discover = Discover{"monitoring", "am", DiscoverAddresses::Endpoints, "", false};
  return t;
}

DiscoveredAddress address(std::string ip, std::string node, bool ready = true,
                          std::string zone = "") {
  DiscoveredAddress a;
  a.ip = std::move(ip);
  a.node = std::move(node);
  a.ready = ready;
  a.zone = std::move(zone);
  return a;
}

DiscoveredSet two_pods() {
  DiscoveredSet set;
  set.objects["am-1"] = DiscoveredGroup{
      {address("10.0.1.5", "node-a", true, "zone-a"), address("10.0.2.6", "node-b", false)},
      {{"web", 9093, "TCP"}, {"mesh", 9094, "TCP"}, {"mesh-udp", 9094, "UDP"}}};
  return set;
}

std::vector<std::string> labels(const std::vector<Endpoint>& endpoints) {
  std::vector<std::string> out;
  for (const auto& e : endpoints) out.push_back(e.label);
  return out;
}

TEST(ExpandDiscovered, EveryTcpPortOfReadyAddressesByDefault) {
  auto t = discovered_target();
  auto endpoints = expand_discovered(t, two_pods(), "node-x");
  EXPECT_EQ(labels(endpoints), (std::vector<std::string>{"10.0.1.5:9093", "10.0.1.5:9094"}));
  EXPECT_EQ(endpoints[0].host, "10.0.1.5");
  EXPECT_EQ(endpoints[0].port, 9093);
  EXPECT_EQ(endpoints[0].peer_node(), "node-a");
  EXPECT_EQ(endpoints[0].peer_zone(), "zone-a");
}

TEST(ExpandDiscovered, PortByNameByNumberOrTheTargetsPorts) {
  auto t = discovered_target();
  t->discover->port = "web";
  EXPECT_EQ(labels(expand_discovered(t, two_pods(), "")),
            (std::vector<std::string>{"10.0.1.5:9093"}));
  t->discover->port = "9094";
  EXPECT_EQ(labels(expand_discovered(t, two_pods(), "")),
            (std::vector<std::string>{"10.0.1.5:9094"}));
  // A number is probed as given, published or not.
  t->discover->port = "10250";
  EXPECT_EQ(labels(expand_discovered(t, two_pods(), "")),
            (std::vector<std::string>{"10.0.1.5:10250"}));
  t->discover->port = "nope";
  EXPECT_TRUE(expand_discovered(t, two_pods(), "").empty());
  t->discover->port = "";
  t->ports = {443, 80};
  EXPECT_EQ(labels(expand_discovered(t, two_pods(), "")),
            (std::vector<std::string>{"10.0.1.5:80", "10.0.1.5:443"}));
}

TEST(ExpandDiscovered, DnsTargetsTakeUdpPortsAndNotReadyOnesWhenAsked) {
  auto t = discovered_target(ProbeType::Dns);
  t->query = "kubernetes.default.svc.cluster.local";
  t->discover->include_not_ready = true;
  auto endpoints = expand_discovered(t, two_pods(), "");
  EXPECT_EQ(labels(endpoints), (std::vector<std::string>{"10.0.1.5:9094", "10.0.2.6:9094"}));
  EXPECT_EQ(endpoints[1].peer_node(), "node-b");
  EXPECT_EQ(endpoints[1].peer_zone(), "");
}

TEST(ExpandDiscovered, ExcludeSelfSkipsThisNodesEndpoint) {
  auto t = discovered_target();
  t->discover->include_not_ready = true;
  t->discover->port = "web";
  t->exclude_self = true;
  EXPECT_EQ(labels(expand_discovered(t, two_pods(), "node-a")),
            (std::vector<std::string>{"10.0.2.6:9093"}));
  t->exclude_self = false;
  EXPECT_EQ(expand_discovered(t, two_pods(), "node-a").size(), 2u);
}

TEST(ExpandDiscovered, AnAddressInTwoSlicesIsOneEndpointAndIPv6IsBracketed) {
  DiscoveredSet set;
  set.objects["a"] = DiscoveredGroup{{address("fd00::5", "n1")}, {{"https", 443, "TCP"}}};
  set.objects["b"] = DiscoveredGroup{{address("fd00::5", "n1")}, {{"https", 443, "TCP"}}};
  auto endpoints = expand_discovered(discovered_target(), set, "");
  EXPECT_EQ(labels(endpoints), (std::vector<std::string>{"[fd00::5]:443"}));
  EXPECT_EQ(endpoints[0].host, "fd00::5");
}

TEST(ExpandDiscovered, MaxConnectChoosesByRendezvousHash) {
  DiscoveredSet set;
  DiscoveredGroup group;
  group.ports = {{"mesh", 9754, "TCP"}};
  for (int i = 1; i <= 20; ++i)
    group.addresses.push_back(address("10.0.0." + std::to_string(i), "n" + std::to_string(i)));
  set.objects["mesh"] = group;
  auto t = discovered_target();
  t->max_connect = 5;
  const auto a = labels(expand_discovered(t, set, "node-a"));
  EXPECT_EQ(a.size(), 5u);
  EXPECT_EQ(labels(expand_discovered(t, set, "node-a")), a);  // stable
  std::set<std::string> union_of_nodes(a.begin(), a.end());
  bool differs = false;
  for (const std::string node : {"node-b", "node-c", "node-d"}) {
    auto other = labels(expand_discovered(t, set, node));
    differs = differs || other != a;
    union_of_nodes.insert(other.begin(), other.end());
  }
  EXPECT_TRUE(differs);
  EXPECT_GT(union_of_nodes.size(), 5u);
  // One address leaving changes at most one choice.
  DiscoveredSet fewer = set;
  auto& addresses = fewer.objects["mesh"].addresses;
  const std::string gone = a.front().substr(0, a.front().find(':'));
  addresses.erase(std::find_if(addresses.begin(), addresses.end(),
                               [&](const auto& x) { return x.ip == gone; }));
  auto after = labels(expand_discovered(t, fewer, "node-a"));
  auto before = a;
  std::sort(before.begin(), before.end());
  std::sort(after.begin(), after.end());
  std::vector<std::string> kept;
  std::set_intersection(before.begin(), before.end(), after.begin(), after.end(),
                        std::back_inserter(kept));
  EXPECT_EQ(kept.size(), 4u);
}

TEST(ExpandAll, DiscoveredTargetsHaveNoEndpointsBeforeTheirFirstList) {
  auto literal = std::make_shared<Target>();
  literal->name = "lit";
  literal->type = ProbeType::Tcp;
  literal->hosts = {"127.0.0.1"};
  literal->ports = {80};
  auto discovered = discovered_target();
  std::vector<std::shared_ptr<const Target>> targets = {literal, discovered};
  EXPECT_EQ(sources_of(targets).size(), 1u);
  EXPECT_EQ(expand_endpoints(targets).size(), 1u);
  auto none = expand_all(
      targets, [](const SourceKey&) { return nullptr; }, "n");
  EXPECT_EQ(labels(none), (std::vector<std::string>{"127.0.0.1:80"}));
  const DiscoveredSet set = two_pods();
  auto some = expand_all(
      targets,
      [&set](const SourceKey& key) {
        EXPECT_EQ(key.to_string(), "endpointslices/monitoring/am");
        return &set;
      },
      "n");
  EXPECT_EQ(labels(some),
            (std::vector<std::string>{"127.0.0.1:80", "10.0.1.5:9093", "10.0.1.5:9094"}));
}

TEST(ExpandAll, AClusterIpCarriesItsServicesReadyCountOnceTheSlicesAreKnown) {
  auto t = discovered_target();
  t->discover->addresses = DiscoverAddresses::ClusterIp;
  std::vector<std::shared_ptr<const Target>> targets = {t};
  // The Service (its ClusterIP) and its EndpointSlices (its readiness) are both watched.
  const auto sources = sources_of(targets);
  ASSERT_EQ(sources.size(), 2u);
  EXPECT_EQ(sources.begin()->to_string(), "endpointslices/monitoring/am");
  EXPECT_EQ(std::next(sources.begin())->to_string(), "services/monitoring/am");
  DiscoveredSet service;
  service.objects["am"] = DiscoveredGroup{{address("10.100.0.7", "")}, {{"web", 9093, "TCP"}}};
  const DiscoveredSet slices = two_pods();  // one ready, one not
  auto expanded = [&](const DiscoveredSet* known_slices) {
    return expand_all(
        targets,
        [&](const SourceKey& key) -> const DiscoveredSet* {
          return key.resource == Resource::Services ? &service : known_slices;
        },
        "n");
  };
  auto before = expanded(nullptr);
  ASSERT_EQ(labels(before), (std::vector<std::string>{"10.100.0.7:9093"}));
  EXPECT_EQ(before[0].backends, nullptr) << "unknown is not zero";
  auto known = expanded(&slices);
  ASSERT_EQ(known.size(), 1u);
  ASSERT_NE(known[0].backends, nullptr);
  EXPECT_EQ(*known[0].backends, (ServiceBackends{"monitoring", "am", 1}));
  DiscoveredSet none_ready = slices;
  for (auto& a : none_ready.objects["am-1"].addresses) a.ready = false;
  EXPECT_EQ(expanded(&none_ready)[0].backends->ready, 0u);
  // An endpoints target has none: its addresses are the backends themselves.
  EXPECT_EQ(expand_discovered(discovered_target(), slices, "n")[0].backends, nullptr);
}

}  // namespace
}  // namespace reachprobe::kube
