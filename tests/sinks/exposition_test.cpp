#include "probe/sinks/exposition.hpp"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/summary.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <limits>
#include <map>
#include <sstream>
#include <string>

#include "tests/support/exposition.hpp"

namespace reachprobe {
namespace {

using test::samples;

TEST(Exposition, SameSamplesAsPrometheusCppTextSerializer) {
  prometheus::Registry registry;
  auto& counters = prometheus::BuildCounter().Name("c_total").Help("a counter").Register(registry);
  counters.Add({{"target", "a"}, {"endpoint", "10.0.0.1:443"}}).Increment(3);
  counters.Add({{"target", "quote\"back\\slash\nnewline"}}).Increment(0.25);
  auto& gauges = prometheus::BuildGauge().Name("g").Help("help with \\ and \n").Register(registry);
  gauges.Add({}).Set(-1.5e-7);
  gauges.Add({{"x", "1"}}).Set(1e21);
  gauges.Add({{"x", "2"}}).Set(std::numeric_limits<double>::infinity());
  gauges.Add({{"x", "3"}}).Set(std::nan(""));
  auto& histograms = prometheus::BuildHistogram().Name("h_seconds").Register(registry);
  auto& h = histograms.Add({{"phase", "total"}},
                           prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.5, 1, 10});
  h.Observe(0.0002);
  h.Observe(3);
  h.Observe(30);
  auto& summaries = prometheus::BuildSummary().Name("s").Help("summary").Register(registry);
  summaries.Add({}, prometheus::Summary::Quantiles{{0.5, 0.05}, {0.99, 0.001}}).Observe(2);

  const auto families = registry.Collect();
  const auto ours = render_text(families);
  const auto theirs = prometheus::TextSerializer().Serialize(families);
  EXPECT_EQ(samples(ours), samples(theirs)) << ours << "\n---\n" << theirs;
  EXPECT_EQ(samples(ours).size(), 2u + 4u + 2u + 6u + 2u + 2u);

  // The lines a scraper reads, exactly.
  EXPECT_NE(ours.find("# HELP c_total a counter\n# TYPE c_total counter\n"), std::string::npos);
  EXPECT_NE(ours.find("c_total{endpoint=\"10.0.0.1:443\",target=\"a\"} 3\n"), std::string::npos);
  EXPECT_NE(ours.find("c_total{target=\"quote\\\"back\\\\slash\\nnewline\"} 0.25\n"),
            std::string::npos);
  EXPECT_NE(ours.find("g -1.5e-07\n"), std::string::npos) << ours;
  EXPECT_NE(ours.find("g{x=\"2\"} +Inf\n"), std::string::npos);
  EXPECT_NE(ours.find("g{x=\"3\"} NaN\n"), std::string::npos);
  EXPECT_NE(ours.find("# TYPE h_seconds histogram\n"), std::string::npos);
  EXPECT_NE(ours.find("h_seconds_bucket{phase=\"total\",le=\"0.0001\"} 0\n"), std::string::npos);
  EXPECT_NE(ours.find("h_seconds_bucket{phase=\"total\",le=\"0.00025\"} 1\n"), std::string::npos);
  EXPECT_NE(ours.find("h_seconds_bucket{phase=\"total\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(ours.find("h_seconds_count{phase=\"total\"} 3\n"), std::string::npos);
  EXPECT_NE(ours.find("s{quantile=\"0.99\"} 2\n"), std::string::npos);
}

TEST(Exposition, EmptyRegistryIsEmpty) {
  prometheus::Registry registry;
  EXPECT_EQ(render_text(registry.Collect()), "");
}

}  // namespace
}  // namespace reachprobe
