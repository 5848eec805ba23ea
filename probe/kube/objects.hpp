#pragma once

#include <boost/property_tree/ptree_fwd.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "probe/core/target.hpp"

namespace reachprobe::kube {

// A port number as the API writes it in text (a targetPort, a target's `port:`): 1-65535,
// digits only; nullopt for anything else, such as a port name.
std::optional<std::uint16_t> port_number(std::string_view text);

// The API objects a discovered target reads from: the EndpointSlices of a Service, or the
// Service itself (its ClusterIP); for the ports the control plane calls on nodes, the
// cluster-scoped webhook configurations and APIServices (their service references).
enum class Resource {
  EndpointSlices,
  Services,
  ValidatingWebhookConfigurations,
  MutatingWebhookConfigurations,
  ApiServices
};

constexpr std::string_view to_string(Resource r) {
  switch (r) {
    case Resource::EndpointSlices:
      return "endpointslices";
    case Resource::Services:
      return "services";
    case Resource::ValidatingWebhookConfigurations:
      return "validatingwebhookconfigurations";
    case Resource::MutatingWebhookConfigurations:
      return "mutatingwebhookconfigurations";
    case Resource::ApiServices:
      return "apiservices";
  }
  return "services";
}

// Cluster-scoped: listed whole, with no namespace and no name.
constexpr bool cluster_scoped(Resource r) {
  return r != Resource::EndpointSlices && r != Resource::Services;
}

// "EndpointSlice", "Service", "MutatingWebhookConfiguration", "APIService"...
std::string_view kind_name(Resource resource);

// One watch: (resource, namespace, Service name), shared by every target that uses it; a
// cluster-scoped resource has neither namespace nor name.
struct SourceKey {
  Resource resource = Resource::EndpointSlices;
  std::string namespace_name;
  std::string service;
  auto operator<=>(const SourceKey&) const = default;
  bool operator==(const SourceKey&) const = default;
  // "endpointslices/NS/NAME" (a cluster-scoped one: the resource alone): the `source` label
  // of the discovery metrics.
  std::string to_string() const;
  // "endpointslices.discovery.k8s.io", "services", "apiservices.apiregistration.k8s.io"...:
  // what an RBAC rule names.
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
  // A Service port's targetPort as written: a number, a container port name, or empty (the
  // same as `port`). Slices have none: their port is already the resolved number.
  std::string target_port{};
  bool operator==(const DiscoveredPort&) const = default;
};

// Where the API server sends calls for a webhook or an aggregated API: a Service port in the
// cluster (`clientConfig.service`, `spec.service`), or a URL (`clientConfig.url`).
struct ServiceReference {
  std::string webhook;  // the webhook's name within its configuration; empty for an APIService
  std::string namespace_name;
  std::string service;
  std::uint16_t port = 443;  // the API's default when the reference gives none
  std::string url{};         // set instead of the Service for a URL webhook
  bool operator==(const ServiceReference&) const = default;
};

// One object's addresses and the ports they all serve: an EndpointSlice's endpoints and
// ports, a Service's ClusterIPs and spec.ports; a webhook configuration's or APIService's
// service references.
struct DiscoveredGroup {
  std::vector<DiscoveredAddress> addresses;
  std::vector<DiscoveredPort> ports;
  std::vector<ServiceReference> references{};
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

// The set a source has now, or nullptr before its first list.
using SetLookup = std::function<const DiscoveredSet*(const SourceKey&)>;

// One object of a list or a watch event, parsed.
struct ParsedObject {
  std::string name;
  std::string resource_version;
  DiscoveredGroup group;  // empty for an object that has none (a headless Service, FQDN slice)
};

// Parses an EndpointSlice (discovery.k8s.io/v1), a Service (v1), a Validating- or
// MutatingWebhookConfiguration (admissionregistration.k8s.io/v1) or an APIService
// (apiregistration.k8s.io/v1), as `resource` asks; the error says what is wrong in words.
std::variant<ParsedObject, std::string> parse_object(const boost::property_tree::ptree& object,
                                                     Resource resource);

struct ParsedList {
  std::string resource_version;
  std::map<std::string, DiscoveredGroup> objects;
};
// A list response (kind EndpointSliceList, ServiceList, ...List).
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
