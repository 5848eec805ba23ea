#include "probe/config/private_endpoints.hpp"

#include <algorithm>

namespace reachprobe::config {

namespace {

bool region_like(std::string_view text) {
  return text.size() >= 4 && text.size() <= 32 && text.find('-') != std::string_view::npos &&
         std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
         });
}

bool account_like(std::string_view text) {
  return text.size() == 12 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

bool is_private_endpoint_service(std::string_view service) {
  return std::find(std::begin(kPrivateEndpointServices), std::end(kPrivateEndpointServices),
                   service) != std::end(kPrivateEndpointServices);
}

std::variant<std::vector<Target>, std::string> private_endpoint_targets(
    const std::vector<std::string>& services, const std::string& region,
    const std::string& account_id, const Target& defaults) {
  if (region.empty()) {
    return "'private_endpoints' needs the region for the service names: set AWS_REGION, or "
           "'imds: true' for the node's";
  }
  if (!region_like(region)) return "AWS_REGION '" + region + "' is not a region";
  // The China partition has its own domain and service-name prefix.
  const bool china = region.starts_with("cn-");
  const std::string domain = china ? "amazonaws.com.cn" : "amazonaws.com";
  const std::string prefix = china ? "cn.com.amazonaws." : "com.amazonaws.";
  std::vector<Target> targets;
  for (const auto& service : services) {
    std::string host;
    if (service == "ecr.api") {
      host = "api.ecr." + region + "." + domain;
    } else if (service == "ecr.dkr") {
      if (account_id.empty()) {
        return "'private_endpoints' needs the account id for the ECR registry name "
               "(ACCOUNT.dkr.ecr." +
               region + "." + domain +
               "): set AWS_ACCOUNT_ID, or 'imds: true' for the node's (the identity document)";
      }
      if (!account_like(account_id)) return "AWS_ACCOUNT_ID '" + account_id + "' is not 12 digits";
      host = account_id + ".dkr.ecr." + region + "." + domain;
    } else {
      host = service + "." + region + "." + domain;
    }
    Target t = defaults;
    t.name = "aws-" + service;
    std::replace(t.name.begin(), t.name.end(), '.', '-');
    t.type = ProbeType::Tls;
    t.hosts = {host};
    t.ports = {443};
    t.labels = {{"group", "aws-private"}};
    t.aws_service = prefix + region + "." + service;
    targets.push_back(std::move(t));
  }
  return targets;
}

}  // namespace reachprobe::config
