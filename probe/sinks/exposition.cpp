#include "probe/sinks/exposition.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

namespace reachprobe {

namespace {

// Written straight into the string that is returned: no copy of a 25 MB text at the end.
using Out = std::string;

void append(Out& out, std::string_view text) { out.append(text); }

template <typename T>
void append_number(Out& out, T value) {
  char digits[40];
  const auto end = fmt::format_to_n(digits, sizeof digits, "{}", value).out;
  out.append(digits, static_cast<std::size_t>(end - digits));
}

// Shortest text that reads back as the same double ("0.0001", "1e-07", "42").
void write_value(Out& out, double value) {
  if (std::isnan(value)) {
    append(out, "NaN");
  } else if (std::isinf(value)) {
    append(out, value < 0 ? "-Inf" : "+Inf");
  } else {
    append_number(out, value);
  }
}

void write_value(Out& out, std::uint64_t value) { append_number(out, value); }

void write_escaped(Out& out, std::string_view value) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c != '\\' && c != '"' && c != '\n') continue;
    append(out, value.substr(start, i - start));
    append(out, c == '\n' ? "\\n" : c == '"' ? "\\\"" : "\\\\");
    start = i + 1;
  }
  append(out, value.substr(start));
}

// `{a="1",b="2"` (no closing brace) for a metric's labels, rendered once per metric and
// reused by each of its lines (a histogram has one per bucket).
std::string label_prefix(const prometheus::ClientMetric& metric) {
  Out out;
  char sep = '{';
  for (const auto& label : metric.label) {
    out.push_back(sep);
    append(out, label.name);
    append(out, "=\"");
    write_escaped(out, label.value);
    out.push_back('"');
    sep = ',';
  }
  return out;
}

void write_tail(Out& out, const prometheus::ClientMetric& metric) {
  if (metric.timestamp_ms != 0) {
    out.push_back(' ');
    append_number(out, metric.timestamp_ms);
  }
  out.push_back('\n');
}

// name+suffix, the labels, an optional extra label; then the caller writes the value.
void write_head(Out& out, std::string_view name, std::string_view suffix, const std::string& labels,
                std::string_view extra_name = {}, double extra_value = 0, bool extra_inf = false) {
  append(out, name);
  append(out, suffix);
  if (!extra_name.empty()) {
    append(out, labels.empty() ? "{" : labels);
    if (!labels.empty()) out.push_back(',');
    append(out, extra_name);
    append(out, "=\"");
    if (extra_inf) {
      append(out, "+Inf");
    } else {
      write_value(out, extra_value);
    }
    append(out, "\"} ");
  } else if (!labels.empty()) {
    append(out, labels);
    append(out, "} ");
  } else {
    out.push_back(' ');
  }
}

void write_metric(Out& out, const prometheus::MetricFamily& family,
                  const prometheus::ClientMetric& metric) {
  const std::string labels = label_prefix(metric);
  const std::string_view name = family.name;
  switch (family.type) {
    case prometheus::MetricType::Counter:
      write_head(out, name, "", labels);
      write_value(out, metric.counter.value);
      write_tail(out, metric);
      break;
    case prometheus::MetricType::Gauge:
      write_head(out, name, "", labels);
      write_value(out, metric.gauge.value);
      write_tail(out, metric);
      break;
    case prometheus::MetricType::Untyped:
      write_head(out, name, "", labels);
      write_value(out, metric.untyped.value);
      write_tail(out, metric);
      break;
    case prometheus::MetricType::Summary: {
      const auto& s = metric.summary;
      write_head(out, name, "_count", labels);
      write_value(out, s.sample_count);
      write_tail(out, metric);
      write_head(out, name, "_sum", labels);
      write_value(out, s.sample_sum);
      write_tail(out, metric);
      for (const auto& q : s.quantile) {
        write_head(out, name, "", labels, "quantile", q.quantile);
        write_value(out, q.value);
        write_tail(out, metric);
      }
      break;
    }
    case prometheus::MetricType::Histogram: {
      const auto& h = metric.histogram;
      write_head(out, name, "_count", labels);
      write_value(out, h.sample_count);
      write_tail(out, metric);
      write_head(out, name, "_sum", labels);
      write_value(out, h.sample_sum);
      write_tail(out, metric);
      double last = -std::numeric_limits<double>::infinity();
      for (const auto& b : h.bucket) {
        write_head(out, name, "_bucket", labels, "le", b.upper_bound, std::isinf(b.upper_bound));
        last = b.upper_bound;
        write_value(out, b.cumulative_count);
        write_tail(out, metric);
      }
      if (last != std::numeric_limits<double>::infinity()) {
        write_head(out, name, "_bucket", labels, "le", 0, true);
        write_value(out, h.sample_count);
        write_tail(out, metric);
      }
      break;
    }
  }
}

std::string_view type_name(prometheus::MetricType type) {
  switch (type) {
    case prometheus::MetricType::Counter:
      return "counter";
    case prometheus::MetricType::Gauge:
      return "gauge";
    case prometheus::MetricType::Summary:
      return "summary";
    case prometheus::MetricType::Histogram:
      return "histogram";
    case prometheus::MetricType::Untyped:
      break;
  }
  return "untyped";
}

}  // namespace

namespace exposition {

void append_header(std::string& out, std::string_view name, std::string_view help,
                   std::string_view type) {
  if (!help.empty()) {
    append(out, "# HELP ");
    append(out, name);
    out.push_back(' ');
    append(out, help);
    out.push_back('\n');
  }
  append(out, "# TYPE ");
  append(out, name);
  out.push_back(' ');
  append(out, type);
  out.push_back('\n');
}

void append_escaped(std::string& out, std::string_view value) { write_escaped(out, value); }
void append_value(std::string& out, double value) { write_value(out, value); }
void append_value(std::string& out, std::uint64_t value) { append_number(out, value); }
void append_value(std::string& out, std::int64_t value) { append_number(out, value); }

}  // namespace exposition

void render_text(const std::vector<prometheus::MetricFamily>& families, std::string& out) {
  for (const auto& family : families) {
    exposition::append_header(out, family.name, family.help, type_name(family.type));
    for (const auto& metric : family.metric) write_metric(out, family, metric);
  }
}

std::string render_text(const std::vector<prometheus::MetricFamily>& families) {
  std::string out;
  render_text(families, out);
  return out;
}

}  // namespace reachprobe
