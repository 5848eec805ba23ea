#pragma once

#include <string>

#include "probe/aws/node_facts.hpp"
#include "probe/core/endpoint.hpp"
#include "probe/core/probe_result.hpp"

namespace reachprobe {

// The likely cause of a failure and what to change, for `check` output. What the probe
// proved (ProbeResult::finding) alone, when it proved something; else what is known about
// the result and the port (9443 is an admission webhook, 10250 the kubelet, ...), else the
// generic meaning of the result, with a target's own hint for the result added after it,
// never instead. Empty for ok. With this node's IMDS `facts`, a missing security-group rule
// names the real group ids.
std::string hint_for(const Endpoint& endpoint, const ProbeResult& result,
                     const aws::NodeFacts* facts = nullptr);

// When this node has several groups besides the cluster group: which one is taken as the
// node group and why, and the others (": the only one of ... ; also attached: sg-..."), to
// follow "this node's security group"; else empty.
std::string node_group_choice_note(const aws::NodeFacts* facts);

// "add to sg-0abc (this node's security group) an ingress rule for TCP 9443 from the
// cluster security group sg-0def (eks-cluster-sg-...)"; empty without a node group.
std::string node_ingress_from_cluster(std::uint16_t port, const aws::NodeFacts* facts);

}  // namespace reachprobe
