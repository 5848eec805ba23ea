#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace reachprobe::config {

// `discover:` of an inbound target names where its ports come from. `webhooks`: every port
// the cluster's ValidatingWebhookConfigurations, MutatingWebhookConfigurations and
// APIServices make the API server call (all three: an aggregated API is called like a
// webhook), followed live. Checked here only: `validate` never asks the API server.
inline constexpr std::string_view kInboundDiscoverWebhooks = "webhooks";

// Why `value` is not a valid inbound `discover:`, or nullopt.
std::optional<std::string> inbound_discover_problem(std::string_view value);

}  // namespace reachprobe::config
