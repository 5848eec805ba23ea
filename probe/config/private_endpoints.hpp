#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "probe/core/target.hpp"

namespace reachprobe::config {

// The AWS APIs a node without a NAT gateway reaches through VPC endpoints: ECR (api and
// the dkr registry), S3 (image layers), EC2 (the VPC CNI), EKS, STS (IRSA).
inline constexpr std::string_view kPrivateEndpointServices[] = {"ecr.api", "ecr.dkr", "s3",
                                                                "ec2",     "eks",     "sts"};

bool is_private_endpoint_service(std::string_view service);

// `aws: {private_endpoints: ...}`: one tls target per service (port 443, SNI = the name),
// named aws-SERVICE ("aws-ecr-api"), labelled group=aws-private, whose failures are hinted
// by where the name resolves (Target::aws_service). `account_id` is needed for ecr.dkr only
// (ACCOUNT.dkr.ecr.REGION.amazonaws.com; any account's name resolves the same way). A
// message on a problem (no region, no account for ecr.dkr).
std::variant<std::vector<Target>, std::string> private_endpoint_targets(
    const std::vector<std::string>& services, const std::string& region,
    const std::string& account_id, const Target& defaults);

}  // namespace reachprobe::config
