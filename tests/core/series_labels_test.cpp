#include "probe/core/series_labels.hpp"

#include <gtest/gtest.h>

namespace reachprobe {
namespace {

// The labels prometheus-operator's generatePodMonitorConfig / generateServiceMonitorConfig
// and Prometheus itself put on a target: none may be one of reachprobe's own.
TEST(SeriesLabels, NoneIsALabelTheScrapeSets) {
  for (const char* scrape :
       {"job", "instance", "namespace", "pod", "container", "endpoint", "service"}) {
    EXPECT_TRUE(is_scrape_target_label(scrape)) << scrape;
    EXPECT_FALSE(is_endpoint_series_label(scrape)) << scrape;
  }
  EXPECT_FALSE(is_endpoint_series_label(kShippedScrapeLabel));
  EXPECT_TRUE(is_endpoint_series_label("dst"));
  EXPECT_FALSE(is_scrape_target_label("dst"));
}

}  // namespace
}  // namespace reachprobe
