#include "probe/check/location_hints.hpp"

#include <fmt/format.h>

namespace reachprobe {

namespace {

// Failures that say the address was not reached; refusals, TLS and DNS failures are about
// something else and keep their own hints.
bool not_reached(const ProbeResult& r) {
  if (r.outcome == Outcome::Unreachable) return true;
  return r.outcome == Outcome::Timeout && !r.phase(Phase::Tls) && !r.phase(Phase::FirstByte);
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

std::string node_group(const aws::NodeFacts* facts) {
  const auto* group = facts ? facts->node_security_group() : nullptr;
  return group ? "the node security group " + group->id : std::string("the node security group");
}

// What `subject` resolving to `address` means: the inside or the outside reading, or both
// when the VPC's CIDRs are not known.
std::string by_location(const std::string& subject, const std::string& address,
                        const LocationHint& where, const aws::NodeFacts* facts,
                        const std::string& inside, const std::string& outside) {
  if (!where.known) {
    return fmt::format(
        "{} resolves to {}, and whether that is inside the VPC is not known here (no VPC "
        "CIDRs: `aws: {{imds: true}}`). Inside the VPC, {}. Outside, {}",
        subject, address.empty() ? "an address" : address, inside, outside);
  }
  return fmt::format("{} resolves to {}, {} the VPC ({}): {}", subject, address,
                     where.inside_vpc ? "inside" : "outside", joined(facts->vpc_cidrs),
                     where.inside_vpc ? inside : outside);
}

std::string service_hint(const std::string& host, const std::string& service,
                         const std::string& address, const LocationHint& where,
                         const aws::NodeFacts* facts) {
  const bool s3 = service.ends_with(".s3");
  const std::string endpoint_groups = fmt::format(
      "aws ec2 describe-vpc-endpoints --filters Name=service-name,Values={} --query "
      "'VpcEndpoints[].[VpcEndpointId,VpcEndpointType,PrivateDnsEnabled,Groups]'",
      service);
  const std::string inside = fmt::format(
      "an interface VPC endpoint ({}) with private DNS answers for it, and it does not let "
      "this node in: the endpoint's security group must allow TCP 443 from {} (`{}`), and "
      "the NACLs of both subnets must pass it",
      service, node_group(facts), endpoint_groups);
  const std::string subnet = facts && !facts->subnet_id.empty() ? facts->subnet_id : "SUBNET_ID";
  const std::string outside =
      s3 ? fmt::format(
               "S3 without an interface endpoint is reached through a gateway endpoint (a route "
               "to the {} prefix list in this subnet's route table: `aws ec2 "
               "describe-route-tables --filters Name=association.subnet-id,Values={}`; the node "
               "security group must allow egress 443 to that prefix list) or through NAT, and "
               "neither gets this node there",
               service, subnet)
         : fmt::format(
               "this VPC has no interface endpoint for {} with private DNS on (`{}`), so the "
               "node takes its route out, and nothing gets it out (a private subnet without "
               "NAT). Create the interface endpoint in the node subnets with private DNS on and "
               "a security group allowing TCP 443 from the nodes, or turn on private DNS on the "
               "one that exists",
               service, endpoint_groups);
  return by_location(host, address, where, facts, inside, outside);
}

std::string cluster_endpoint_hint(const Endpoint& endpoint, const std::string& address,
                                  const LocationHint& where, const aws::NodeFacts* facts) {
  const Target& t = *endpoint.target;
  const std::string what =
      fmt::format("the cluster endpoint {} (the kubelet's own path to the API server{})",
                  endpoint.host, t.kubeconfig.empty() ? "" : ", from " + t.kubeconfig);
  const std::string inside = fmt::format(
      "private endpoint access is on and these are the control-plane ENIs: the cluster "
      "security group must allow TCP 443 from {}, and the NACLs of both subnets must pass it",
      node_group(facts));
  const std::string outside =
      "this is the public endpoint, which admits only its public access CIDRs: add this "
      "node's egress address (its NAT gateway's public IP) to the cluster's public access "
      "CIDRs, or turn on private endpoint access so the name resolves to the control-plane "
      "ENIs in the VPC (`aws eks update-cluster-config --name CLUSTER --resources-vpc-config "
      "endpointPrivateAccess=true`; terraform-aws-modules/eks: cluster_endpoint_private_access, "
      "cluster_endpoint_public_access_cidrs). Pods still reach the API server by its ClusterIP "
      "while this fails, and the node goes NotReady";
  return by_location(what, address, where, facts, inside, outside);
}

}  // namespace

LocationHint location_hint(const Endpoint& endpoint, const ProbeResult& result,
                           const aws::NodeFacts* facts) {
  LocationHint where;
  const Target& t = *endpoint.target;
  if ((t.aws_service.empty() && !t.cluster_endpoint) || !not_reached(result)) return where;
  where.applies = true;
  const std::string& address = result.address;
  where.known = facts != nullptr && !facts->vpc_cidrs.empty() && !address.empty() &&
                address.find(':') == std::string::npos;
  where.inside_vpc = where.known && facts->in_vpc(address);
  if (t.cluster_endpoint) {
    where.node_or_cluster_group_fix = where.known && where.inside_vpc;
    where.text = cluster_endpoint_hint(endpoint, address, where, facts);
  } else {
    where.text = service_hint(endpoint.host, t.aws_service, address, where, facts);
  }
  return where;
}

}  // namespace reachprobe
