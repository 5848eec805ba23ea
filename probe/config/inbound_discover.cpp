#include "probe/config/inbound_discover.hpp"

#include <fmt/format.h>

namespace reachprobe::config {

std::optional<std::string> inbound_discover_problem(std::string_view value) {
  if (value == kInboundDiscoverWebhooks) return std::nullopt;
  std::string why =
      fmt::format("unknown inbound 'discover' '{}' (one of: {})", value, kInboundDiscoverWebhooks);
  if (value == "webhook" || value == "apiservices" || value == "apiservice") {
    why += ": 'webhooks' covers webhook configurations and APIServices alike";
  }
  return why;
}

}  // namespace reachprobe::config
