#include "probe/config/inbound_discover.hpp"

namespace reachprobe::config {

std::optional<std::string> inbound_discover_problem(std::string_view value) {
  if (value == kInboundDiscoverWebhooks) return std::nullopt;
  std::string why = "unknown inbound 'discover' '" + std::string(value) +
                    "' (one of: " + std::string(kInboundDiscoverWebhooks) + ")";
  if (value == "webhook" || value == "apiservices" || value == "apiservice") {
    why += ": 'webhooks' covers webhook configurations and APIServices alike";
  }
  return why;
}

}  // namespace reachprobe::config
