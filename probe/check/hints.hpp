#pragma once

#include <string>

#include "probe/aws/node_facts.hpp"
#include "probe/core/endpoint.hpp"
#include "probe/core/probe_result.hpp"

namespace reachprobe {

// The likely cause of a failure and what to change, for `check` output. What the probe
// proved (ProbeResult::finding) comes first; then a target's own `hint`; then what is known about
// the port (9443 is an admission webhook, 10250 the kubelet, ...); then the generic meaning of the
// result. Empty for ok. With this node's IMDS `facts`, a missing security-group rule names the real
// group ids.
std::string hint_for(const Endpoint& endpoint, const ProbeResult& result,
                     const aws::NodeFacts* facts = nullptr);

// "add to sg-0abc (this node's security group) an ingress rule for TCP 9443 from the
// cluster security group sg-0def (eks-cluster-sg-...)"; empty without a node group.
std::string node_ingress_from_cluster(std::uint16_t port, const aws::NodeFacts* facts);

}  // namespace reachprobe
