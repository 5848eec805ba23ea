#include "probe/sinks/metrics_sink.hpp"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

namespace reachprobe {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<Target> target(std::string host) {
  auto t = std::make_shared<Target>();
  t->name = "cp";
  t->type = ProbeType::Tcp;
  t->hosts = {host};
  t->ports = {443};
  t->labels = {{"group", "control-plane"}};
  return t;
}

std::string scrape(prometheus::Registry& r) {
  return prometheus::TextSerializer().Serialize(r.Collect());
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

ProbeResult ok_result(bool with_dns) {
  ProbeResult r;
  r.outcome = Outcome::Ok;
  if (with_dns) r.set_phase(Phase::Dns, 2ms);
  r.set_phase(Phase::Connect, 3ms);
  r.set_phase(Phase::Total, with_dns ? 5ms : 3ms);
  return r;
}

TEST(MetricsSink, SingleSubPhaseProbeExposesOnlyTotal) {
  prometheus::Registry registry;
  MetricsSink sink(registry);
  auto e = expand_endpoints({target("10.0.0.10")}).front();
  sink.record(e, ok_result(false));
  auto text = scrape(registry);
  EXPECT_NE(
      text.find(
          R"(reachprobe_probe_success{endpoint="10.0.0.10:443",group="control-plane",target="cp",type="tcp"} 1)"),
      std::string::npos)
      << text;
  EXPECT_EQ(count(text, "phase=\"total\""), 16u + 1u + 2u) << "buckets + Inf + sum + count";
  EXPECT_EQ(count(text, "phase=\"connect\""), 0u);
  EXPECT_NE(
      text.find(
          R"(reachprobe_probes_total{endpoint="10.0.0.10:443",group="control-plane",result="ok",target="cp",type="tcp"} 1)"),
      std::string::npos);
}

TEST(MetricsSink, NamedHostExposesDnsConnectAndTotal) {
  prometheus::Registry registry;
  MetricsSink sink(registry);
  auto e = expand_endpoints({target("api.example.internal")}).front();
  sink.record(e, ok_result(true));
  auto text = scrape(registry);
  EXPECT_GT(count(text, "phase=\"dns\""), 0u);
  EXPECT_GT(count(text, "phase=\"connect\""), 0u);
  EXPECT_GT(count(text, "phase=\"total\""), 0u);
  EXPECT_EQ(count(text, "phase=\"tls\""), 0u);
}

TEST(MetricsSink, FailuresCountByResultAndRecordNoLatency) {
  prometheus::Registry registry;
  MetricsSink sink(registry);
  auto e = expand_endpoints({target("10.0.0.10")}).front();
  sink.record(e, ok_result(false));
  ProbeResult timeout;
  timeout.outcome = Outcome::Timeout;
  timeout.set_phase(Phase::Connect, 2s);
  timeout.set_phase(Phase::Total, 2s);
  sink.record(e, timeout);
  sink.record(e, timeout);
  auto text = scrape(registry);
  EXPECT_NE(text.find(R"(result="timeout",target="cp",type="tcp"} 2)"), std::string::npos) << text;
  EXPECT_NE(
      text.find(
          R"(reachprobe_probe_success{endpoint="10.0.0.10:443",group="control-plane",target="cp",type="tcp"} 0)"),
      std::string::npos);
  // Only the ok probe was observed: the histogram count is 1.
  EXPECT_NE(
      text.find(
          R"(reachprobe_probe_duration_seconds_count{endpoint="10.0.0.10:443",group="control-plane",phase="total",target="cp",type="tcp"} 1)"),
      std::string::npos)
      << text;
}

TEST(MetricsSink, ForgetRemovesEverySeriesOfTheEndpoint) {
  prometheus::Registry registry;
  MetricsSink sink(registry);
  auto endpoints = expand_endpoints({target("10.0.0.10"), target("10.0.0.11")});
  for (const auto& e : endpoints) sink.record(e, ok_result(false));
  ProbeResult refused;
  refused.outcome = Outcome::Refused;
  sink.record(endpoints[0], refused);
  sink.forget(endpoints[0]);
  auto text = scrape(registry);
  EXPECT_EQ(count(text, "10.0.0.10:443"), 0u) << text;
  EXPECT_GT(count(text, "10.0.0.11:443"), 0u);
  EXPECT_EQ(sink.endpoint_count(), 1u);
}

TEST(DaemonMetrics, BuildInfoAndReloadGauge) {
  prometheus::Registry registry;
  DaemonMetrics d(registry);
  d.config_loaded(true);
  auto text = scrape(registry);
  EXPECT_NE(text.find("reachprobe_build_info{version=\""), std::string::npos);
  EXPECT_NE(text.find("reachprobe_config_last_reload_successful 1"), std::string::npos) << text;
  d.config_loaded(false);
  text = scrape(registry);
  EXPECT_NE(text.find("reachprobe_config_last_reload_successful 0"), std::string::npos);
}

}  // namespace
}  // namespace reachprobe
