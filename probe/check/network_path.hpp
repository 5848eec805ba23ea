#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "probe/aws/node_facts.hpp"
#include "probe/check/check.hpp"

namespace reachprobe {

// Failures toward one subnet that no rule on this node's security group explains, because
// the same ports connect elsewhere: the shape of a network ACL or a route between subnets
// (or of peers whose own group admits nothing from this node's). docs/aws-paths.md
// states the rule; find_network_paths applies it.
struct NetworkPathFinding {
  std::string subnet;                  // the destination subnet, as far as known: a CIDR
  std::vector<std::string> addresses;  // every address probed there; none connected
  std::vector<std::uint16_t> ports;    // every TCP port that failed there
  // Ports among `ports` that connected to another subnet of the VPC in the same run, and
  // one such endpoint each ("198.18.0.6:8080"), the evidence.
  std::vector<std::uint16_t> ports_working_elsewhere;
  std::vector<std::string> working_examples;
  std::vector<std::size_t> rows;     // indexes of the failed rows it explains
  std::string why;                   // one paragraph for humans
  std::vector<std::string> lookups;  // aws-cli commands that show the ACLs, routes, groups
};

// The NACL/routing-shaped failures among `rows`. Needs this node's subnet and VPC CIDRs
// (IMDS); without them it finds nothing, so no failure is blamed on a NACL by guesswork.
// A subnet S (this node's subnet's prefix length applied to a failed address: the subnets
// of an EKS VPC are cut to one size by terraform-aws-modules/vpc and eksctl) is reported
// when all of these hold:
//  - S is inside the VPC and is not this node's subnet (inside one subnet no NACL or route
//    table is crossed);
//  - at least 2 different addresses in S were probed over TCP (tcp and tls targets, the
//    connect of a dns target) and not one connected: every one timed out or was
//    unreachable (one silent address alone is as likely a host that is down);
//  - at least one port that failed toward S connected (ok, refused, ...) to an address of
//    another subnet of the VPC in the same run: the security groups admit that port.
std::vector<NetworkPathFinding> find_network_paths(const std::vector<CheckRow>& rows,
                                                   const aws::NodeFacts* facts);

}  // namespace reachprobe
