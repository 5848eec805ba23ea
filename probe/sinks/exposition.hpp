#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace reachprobe {

// The Prometheus text format (0.0.4) of collected families: the same lines in the same
// order as prometheus::TextSerializer, without iostreams. /metrics with 10,000 endpoints is
// some 200,000 series, and the stream serializer spends most of a scrape formatting
// doubles and escaping labels one character at a time.
std::string render_text(const std::vector<prometheus::MetricFamily>& families);

}  // namespace reachprobe
