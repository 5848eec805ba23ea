#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string_view>
#include <vector>

#include "probe/core/endpoint.hpp"
#include "probe/kube/objects.hpp"

namespace reachprobe::kube {

// The set a source has now, or nullptr before its first list.
using SetLookup = std::function<const DiscoveredSet*(const SourceKey&)>;

// The sources the targets discover from, each once: a ClusterIP target's Service and also
// its EndpointSlices (backends_source_of), whose ready count explains a refused ClusterIP.
std::set<SourceKey> sources_of(const std::vector<std::shared_ptr<const Target>>& targets);

// The endpoints of one discovered target from its source's set: every address (ready ones
// unless include_not_ready; not this node's with exclude_self; at most max_connect, chosen
// by rendezvous hash on `node_name` as the dns fan-out does) x every port (discover.port by
// name or number, else the target's ports, else every port the objects publish for the
// target's protocol: TCP, UDP for dns). Each endpoint is "IP:port", with the address's node
// and zone as peer labels.
std::vector<Endpoint> expand_discovered(const std::shared_ptr<const Target>& target,
                                        const DiscoveredSet& set, std::string_view node_name);

// Every endpoint of every target, in config order: literal ones as expand_endpoints() makes
// them, discovered ones from `lookup` (none while their source has no set). A ClusterIP
// endpoint carries its Service's ready count (Endpoint::backends) once `lookup` has the
// Service's EndpointSlices.
std::vector<Endpoint> expand_all(const std::vector<std::shared_ptr<const Target>>& targets,
                                 const SetLookup& lookup, std::string_view node_name);

}  // namespace reachprobe::kube
