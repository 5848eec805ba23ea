#pragma once

#include <prometheus/metric_family.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace reachprobe {

// The Prometheus text format (0.0.4) of collected families: the same lines in the same
// order as prometheus::TextSerializer, without iostreams. /metrics with 10,000 endpoints is
// some 200,000 series, and the stream serializer spends most of a scrape formatting
// doubles and escaping labels one character at a time.
std::string render_text(const std::vector<prometheus::MetricFamily>& families);
void render_text(const std::vector<prometheus::MetricFamily>& families, std::string& out);

// The pieces, for families rendered from storage of their own (MetricsSink).
namespace exposition {
// `# HELP` (when help is not empty) and `# TYPE` lines.
void append_header(std::string& out, std::string_view name, std::string_view help,
                   std::string_view type);
// A label value with `\`, `"` and newlines escaped.
void append_escaped(std::string& out, std::string_view value);
// The shortest text that reads back as the same double ("0.0001", "1e-07", "42", "+Inf").
void append_value(std::string& out, double value);
void append_value(std::string& out, std::uint64_t value);
void append_value(std::string& out, std::int64_t value);
}  // namespace exposition

}  // namespace reachprobe
