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
