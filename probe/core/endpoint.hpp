#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "probe/core/target.hpp"

namespace reachprobe {

struct PeerLabels {
  std::string node;  // empty: no label
  std::string zone;
  bool operator==(const PeerLabels&) const = default;
};

// Who needs an inbound port the cluster's webhooks and APIServices call: a webhook
// configuration or an APIService, and the Service reference that leads to the port.
struct InboundConsumer {
  std::string
      kind;  // "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService"
  std::string name;     // metadata.name
  std::string service;  // "NAMESPACE/NAME:PORT" the reference names
  auto operator<=>(const InboundConsumer&) const = default;
  bool operator==(const InboundConsumer&) const = default;
  std::string to_string() const { return kind + " " + name; }
};

// "MutatingWebhookConfiguration istio-sidecar-injector, APIService v1beta1.metrics.k8s.io".
std::string describe_consumers(const std::vector<InboundConsumer>& consumers);

// The Service behind a discovered ClusterIP and how many ready endpoints its EndpointSlices
// had when the endpoint was last expanded: kube-proxy rejects connections to a ClusterIP
// without one (a TCP RST or ICMP port unreachable, so `refused`), which no listener or
// security group explains.
struct ServiceBackends {
  std::string namespace_name;
  std::string service;
  std::size_t ready = 0;
  bool operator==(const ServiceBackends&) const = default;
};

// One thing that is probed on its own schedule and has its own series: a host x port of a
// tcp/tls target, the URL of an http target, the query of a dns target.
struct Endpoint {
  std::shared_ptr<const Target> target;
  std::string host;  // a name or an IP literal; empty where the type has none
  std::uint16_t port = 0;
  std::string label;  // the `endpoint` label value: "host:port", the URL, the query name
  // A discovered endpoint's node and zone, as its EndpointSlice names them: labels of its
  // series (`peer_node`, `peer_zone`), not part of its identity. Shared and null when there
  // are none: the scheduler copies the endpoint for every probe, and that copy must stay
  // free of allocations (node names are longer than a short string holds).
  std::shared_ptr<const PeerLabels> peer{};
  // A discovered inbound port's consumers (`discover: webhooks`): what check, hints and
  // remediation name; not labels (one series per port, see docs/discovery.md).
  std::shared_ptr<const std::vector<InboundConsumer>> consumers{};
  // A ClusterIP endpoint whose Service's EndpointSlices are known; null otherwise (not a
  // ClusterIP, or the slices not listed yet or not readable).
  std::shared_ptr<const ServiceBackends> backends{};

  const std::string& peer_node() const;
  const std::string& peer_zone() const;

  const std::string& target_name() const { return target->name; }
  ProbeType type() const { return target->type; }
  // Identity across reloads: same target name, type and endpoint label.
  std::string key() const;
};

// "host:port", with IPv6 literals bracketed.
std::string join_host_port(const std::string& host, std::uint16_t port);

// Every endpoint of every target, in config order; discovered targets (`discover:`) have
// none here: their endpoints come from the sets the Kubernetes API gives (probe/kube/).
std::vector<Endpoint> expand_endpoints(const std::vector<std::shared_ptr<const Target>>& targets);

}  // namespace reachprobe
