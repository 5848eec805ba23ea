#pragma once

#include <algorithm>
#include <array>
#include <string_view>

namespace reachprobe {

// Labels Prometheus (job, instance) or prometheus-operator (namespace, pod, container,
// endpoint, service: generatePodMonitorConfig / generateServiceMonitorConfig) put on every
// scraped target. A series that carries one of them itself loses it: without honorLabels,
// Prometheus renames the series' own to `exported_<name>` and rules grouping by it see the
// target's value instead. No label of reachprobe's, built in or from a config, may be one.
inline constexpr std::array<std::string_view, 7> kScrapeTargetLabels = {
    "job", "instance", "namespace", "pod", "container", "endpoint", "service"};

// Set on every target by the scrape configs reachprobe ships (PodMonitor, plain scrape
// config): the pod's node name. Reserved for the same reason.
inline constexpr std::string_view kShippedScrapeLabel = "node";

// Labels reachprobe itself puts on per-endpoint series; `le` is the histogram bucket label.
inline constexpr std::array<std::string_view, 9> kEndpointSeriesLabels = {
    "target", "type", "dst", "phase", "result", "le", "peer_node", "peer_zone", "vantage"};

constexpr bool is_scrape_target_label(std::string_view name) {
  return std::find(kScrapeTargetLabels.begin(), kScrapeTargetLabels.end(), name) !=
         kScrapeTargetLabels.end();
}

constexpr bool is_endpoint_series_label(std::string_view name) {
  return std::find(kEndpointSeriesLabels.begin(), kEndpointSeriesLabels.end(), name) !=
         kEndpointSeriesLabels.end();
}

static_assert(std::none_of(kEndpointSeriesLabels.begin(), kEndpointSeriesLabels.end(),
                           is_scrape_target_label),
              "a label of reachprobe's would be renamed exported_* by the scrape");

}  // namespace reachprobe
