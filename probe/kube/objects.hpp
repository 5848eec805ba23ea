#pragma once

#include <boost/property_tree/ptree_fwd.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "probe/core/target.hpp"

namespace reachprobe::kube {

// The API objects a discovered target reads from: the EndpointSlices of a Service, or the
// Service itself (its ClusterIP).
enum class Resource { EndpointSlices, Services };

constexpr std::string_view to_string(Resource r) {
  return r == Resource::EndpointSlices ? "endpointslices" : "services";
}

// One watch: (resource, namespace, Service name), shared by every target that uses it.
struct SourceKey {
  Resource resource = Resource::EndpointSlices;
  std::string namespace_name;
  std::string service;
  auto operator<=>(const SourceKey&) const = default;
  bool operator==(const SourceKey&) const = default;
  // "endpointslices/NS/NAME": the `source` label of the discovery metrics.
  std::string to_string() const;
  // "endpointslices.discovery.k8s.io" or "services": what an RBAC rule names.
  std::string_view rbac_resource() const;
  // The list request; `watch_query` (starting with '&') turns it into a watch.
  std::string list_path() const;
};

SourceKey source_of(const Target& target);  // target.discover must be set
// The EndpointSlices of the Service behind a tcp or tls ClusterIP target (how many ready
// endpoints it has, which tells kube-proxy's reject from a missing listener); nullopt for
// other targets.
std::optional<SourceKey> backends_source_of(const Target& target);

struct DiscoveredAddress {
  std::string ip;
  // conditions.ready: absent counts as ready (the API's advice for an unknown state).
  bool ready = true;
  bool serving = true;
  bool terminating = false;
  std::string node;  // nodeName
  std::string zone;
  bool operator==(const DiscoveredAddress&) const = default;
};

struct DiscoveredPort {
  std::string name;
  std::uint16_t port = 0;
  std::string protocol = "TCP";
  bool operator==(const DiscoveredPort&) const = default;
};

// One object's addresses and the ports they all serve: an EndpointSlice's endpoints and
// ports, a Service's ClusterIPs and spec.ports.
struct DiscoveredGroup {
  std::vector<DiscoveredAddress> addresses;
  std::vector<DiscoveredPort> ports;
  bool operator==(const DiscoveredGroup&) const = default;
};

// What a source says now: its objects by name (slices of one Service, or the one Service).
struct DiscoveredSet {
  std::map<std::string, DiscoveredGroup> objects;
  bool operator==(const DiscoveredSet&) const = default;
  // Distinct IPs over all objects.
  std::size_t address_count() const;
  // Distinct IPs whose `ready` condition holds: what kube-proxy sends a ClusterIP's
  // connections to.
  std::size_t ready_count() const;
};

// One object of a list or a watch event, parsed.
struct ParsedObject {
  std::string name;
  std::string resource_version;
  DiscoveredGroup group;  // empty for an object that has none (a headless Service, FQDN slice)
};

// Parses an EndpointSlice (discovery.k8s.io/v1) or a Service (v1), as `resource` asks; the
// error says what is wrong in words.
std::variant<ParsedObject, std::string> parse_object(const boost::property_tree::ptree& object,
                                                     Resource resource);

struct ParsedList {
  std::string resource_version;
  std::map<std::string, DiscoveredGroup> objects;
};
// A list response (kind EndpointSliceList / ServiceList).
std::variant<ParsedList, std::string> parse_list(const boost::property_tree::ptree& list,
                                                 Resource resource);

// The parts of a Kubernetes Status (an ERROR event's object).
struct StatusObject {
  int code = 0;
  std::string reason;
  std::string message;
};
std::optional<StatusObject> parse_status(const boost::property_tree::ptree& object);

}  // namespace reachprobe::kube
