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

std::shared_ptr<Target> dns_target() {
  auto t = std::make_shared<Target>();
  t->name = "am";
  t->type = ProbeType::Dns;
  t->query = "alertmanager-operated.monitoring.svc.cluster.local";
  t->labels = {{"team", "obs"}};
  return t;
}

TEST(MetricsSink, DnsAnswersGaugeFollowsTheLastReplyAndIsForgotten) {
  prometheus::Registry registry;
  MetricsSink sink(registry);
  auto e = expand_endpoints({dns_target()}).front();
  const std::string series =
      R"(reachprobe_dns_answers{endpoint="alertmanager-operated.monitoring.svc.cluster.local",target="am",team="obs",type="dns"} )";

  ProbeResult ok;
  ok.outcome = Outcome::Ok;
  ok.answers = 3;
  ok.set_phase(Phase::Dns, 2ms);
  ok.set_phase(Phase::Total, 2ms);
  sink.record(e, ok);
  auto text = scrape(registry);
  EXPECT_NE(text.find(series + "3"), std::string::npos) << text;
  // A lone dns phase is kept: dashboards plot phase="dns" of dns probes.
  EXPECT_GT(count(text, "phase=\"dns\""), 0u) << text;

  ProbeResult nxdomain;
  nxdomain.outcome = Outcome::NxDomain;
  nxdomain.answers = 0;
  sink.record(e, nxdomain);
  EXPECT_NE(scrape(registry).find(series + "0"), std::string::npos);

  ProbeResult timeout;  // no reply: the last count stands
  timeout.outcome = Outcome::DnsTimeout;
  sink.record(e, timeout);
  EXPECT_NE(scrape(registry).find(series + "0"), std::string::npos);

  sink.forget(e);
  EXPECT_EQ(count(scrape(registry), "reachprobe_dns_answers{"), 0u);
}

TEST(MetricsSink, NoDnsAnswersSeriesForOtherProbes) {
  prometheus::Registry registry;
  MetricsSink sink(registry);
  sink.record(expand_endpoints({target("10.0.0.10")}).front(), ok_result(false));
  EXPECT_EQ(count(scrape(registry), "reachprobe_dns_answers{"), 0u);
}

TEST(MetricsSink, CertExpiryIsTheLastCertificateSeenAndIsForgotten) {
  prometheus::Registry registry;
  MetricsSink sink(registry);
  auto t = target("sts.test");
  t->type = ProbeType::Tls;
  auto e = expand_endpoints({t}).front();
  const std::string series =
      R"(reachprobe_tls_cert_expiry_timestamp_seconds{endpoint="sts.test:443",group="control-plane",target="cp",type="tls"} )";
  EXPECT_EQ(count(scrape(registry), "reachprobe_tls_cert_expiry_timestamp_seconds{"), 0u);

  ProbeResult ok = ok_result(true);
  ok.set_phase(Phase::Tls, 4ms);
  ok.cert_not_after = std::chrono::system_clock::time_point(std::chrono::seconds(1798761600));
  sink.record(e, ok);
  EXPECT_NE(scrape(registry).find(series + "1798761600"), std::string::npos) << scrape(registry);
  EXPECT_EQ(count(scrape(registry), "phase=\"tls\""), latency_buckets().size() + 3)
      << "one tls histogram: its buckets, +Inf, sum and count";

  ProbeResult expired;  // a refused certificate still tells its date
  expired.outcome = Outcome::TlsError;
  expired.cert_not_after = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  sink.record(e, expired);
  EXPECT_NE(scrape(registry).find(series + "1700000000"), std::string::npos);

  ProbeResult timeout;  // no certificate seen: the last one stands
  timeout.outcome = Outcome::Timeout;
  sink.record(e, timeout);
  EXPECT_NE(scrape(registry).find(series + "1700000000"), std::string::npos);

  sink.forget(e);
  EXPECT_EQ(count(scrape(registry), "reachprobe_tls_cert_expiry_timestamp_seconds{"), 0u);
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
