#include "probe/sinks/metrics_sink.hpp"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

#include "probe/core/judge.hpp"
#include "tests/support/exposition.hpp"

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

std::string scrape(const MetricsSink& sink) {
  std::string out;
  sink.render(out);
  return out;
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

// `count` endpoints 10.0.0.0:443, 10.0.0.1:443, ... of targets like target().
std::vector<Endpoint> ip_endpoints(int count) {
  std::vector<std::shared_ptr<const Target>> targets;
  for (int i = 0; i < count; ++i) targets.push_back(target("10.0.0." + std::to_string(i)));
  return expand_endpoints(targets);
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
  MetricsSink sink;
  auto e = expand_endpoints({target("10.0.0.10")}).front();
  sink.record(e, ok_result(false));
  auto text = scrape(sink);
  EXPECT_NE(
      text.find(
          R"(reachprobe_probe_success{dst="10.0.0.10:443",group="control-plane",target="cp",type="tcp",vantage="node"} 1)"),
      std::string::npos)
      << text;
  EXPECT_EQ(count(text, "phase=\"total\""), 16u + 1u + 2u) << "buckets + Inf + sum + count";
  EXPECT_EQ(count(text, "phase=\"connect\""), 0u);
  EXPECT_NE(
      text.find(
          R"(reachprobe_probes_total{dst="10.0.0.10:443",group="control-plane",result="ok",target="cp",type="tcp",vantage="node"} 1)"),
      std::string::npos);
}

TEST(MetricsSink, NamedHostExposesDnsConnectAndTotal) {
  MetricsSink sink;
  auto e = expand_endpoints({target("api.example.internal")}).front();
  sink.record(e, ok_result(true));
  auto text = scrape(sink);
  EXPECT_GT(count(text, "phase=\"dns\""), 0u);
  EXPECT_GT(count(text, "phase=\"connect\""), 0u);
  EXPECT_GT(count(text, "phase=\"total\""), 0u);
  EXPECT_EQ(count(text, "phase=\"tls\""), 0u);
}

TEST(MetricsSink, FailuresCountByResultAndRecordNoLatency) {
  MetricsSink sink;
  auto e = expand_endpoints({target("10.0.0.10")}).front();
  sink.record(e, ok_result(false));
  ProbeResult timeout;
  timeout.outcome = Outcome::Timeout;
  timeout.set_phase(Phase::Connect, 2s);
  timeout.set_phase(Phase::Total, 2s);
  sink.record(e, timeout);
  sink.record(e, timeout);
  auto text = scrape(sink);
  EXPECT_NE(text.find(R"(result="timeout",target="cp",type="tcp",vantage="node"} 2)"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          R"(reachprobe_probe_success{dst="10.0.0.10:443",group="control-plane",target="cp",type="tcp",vantage="node"} 0)"),
      std::string::npos);
  // Only the ok probe was observed: the histogram count is 1.
  EXPECT_NE(
      text.find(
          R"(reachprobe_probe_duration_seconds_count{dst="10.0.0.10:443",group="control-plane",phase="total",target="cp",type="tcp",vantage="node"} 1)"),
      std::string::npos)
      << text;
}

TEST(MetricsSink, ForgetRemovesEverySeriesOfTheEndpoint) {
  MetricsSink sink;
  auto endpoints = expand_endpoints({target("10.0.0.10"), target("10.0.0.11")});
  for (const auto& e : endpoints) sink.record(e, ok_result(false));
  ProbeResult refused;
  refused.outcome = Outcome::Refused;
  sink.record(endpoints[0], refused);
  sink.forget(endpoints[0]);
  auto text = scrape(sink);
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
  MetricsSink sink;
  auto e = expand_endpoints({dns_target()}).front();
  const std::string series =
      R"(reachprobe_dns_answers{dst="alertmanager-operated.monitoring.svc.cluster.local",target="am",team="obs",type="dns",vantage="node"} )";

  ProbeResult ok;
  ok.outcome = Outcome::Ok;
  ok.answers = 3;
  ok.set_phase(Phase::Dns, 2ms);
  ok.set_phase(Phase::Total, 2ms);
  sink.record(e, ok);
  auto text = scrape(sink);
  EXPECT_NE(text.find(series + "3"), std::string::npos) << text;
  // A lone dns phase is kept: dashboards plot phase="dns" of dns probes.
  EXPECT_GT(count(text, "phase=\"dns\""), 0u) << text;

  ProbeResult nxdomain;
  nxdomain.outcome = Outcome::NxDomain;
  nxdomain.answers = 0;
  sink.record(e, nxdomain);
  EXPECT_NE(scrape(sink).find(series + "0"), std::string::npos);

  ProbeResult timeout;  // no reply: the last count stands
  timeout.outcome = Outcome::DnsTimeout;
  sink.record(e, timeout);
  EXPECT_NE(scrape(sink).find(series + "0"), std::string::npos);

  sink.forget(e);
  EXPECT_EQ(count(scrape(sink), "reachprobe_dns_answers{"), 0u);
}

TEST(MetricsSink, NoDnsAnswersSeriesForOtherProbes) {
  MetricsSink sink;
  sink.record(expand_endpoints({target("10.0.0.10")}).front(), ok_result(false));
  EXPECT_EQ(count(scrape(sink), "reachprobe_dns_answers{"), 0u);
}

TEST(MetricsSink, CertExpiryIsTheLastCertificateSeenAndIsForgotten) {
  MetricsSink sink;
  auto t = target("sts.test");
  t->type = ProbeType::Tls;
  auto e = expand_endpoints({t}).front();
  const std::string series =
      R"(reachprobe_tls_cert_expiry_timestamp_seconds{dst="sts.test:443",group="control-plane",target="cp",type="tls",vantage="node"} )";
  EXPECT_EQ(count(scrape(sink), "reachprobe_tls_cert_expiry_timestamp_seconds{"), 0u);

  ProbeResult ok = ok_result(true);
  ok.set_phase(Phase::Tls, 4ms);
  ok.cert_not_after = std::chrono::system_clock::time_point(std::chrono::seconds(1798761600));
  sink.record(e, ok);
  EXPECT_NE(scrape(sink).find(series + "1798761600"), std::string::npos) << scrape(sink);
  EXPECT_EQ(count(scrape(sink), "phase=\"tls\""), latency_buckets().size() + 3)
      << "one tls histogram: its buckets, +Inf, sum and count";

  ProbeResult expired;  // a refused certificate still tells its date
  expired.outcome = Outcome::TlsError;
  expired.cert_not_after = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  sink.record(e, expired);
  EXPECT_NE(scrape(sink).find(series + "1700000000"), std::string::npos);

  ProbeResult timeout;  // no certificate seen: the last one stands
  timeout.outcome = Outcome::Timeout;
  sink.record(e, timeout);
  EXPECT_NE(scrape(sink).find(series + "1700000000"), std::string::npos);

  sink.forget(e);
  EXPECT_EQ(count(scrape(sink), "reachprobe_tls_cert_expiry_timestamp_seconds{"), 0u);
}

// The flat store against prometheus-cpp's serializer fed the same observations: the same
// samples with the same label text, so that series matched exactly (dashboards, tests,
// recording rules) read the same. Target labels sort before, between and after the
// `phase` and `result` labels that go in at their place; values need escaping.
TEST(MetricsSink, RendersTheSamplesPrometheusCppWould) {
  MetricsSink sink;
  prometheus::Registry reference;
  auto& success = prometheus::BuildGauge().Name("reachprobe_probe_success").Register(reference);
  auto& duration =
      prometheus::BuildHistogram().Name("reachprobe_probe_duration_seconds").Register(reference);
  auto& probes = prometheus::BuildCounter().Name("reachprobe_probes_total").Register(reference);
  auto& answers = prometheus::BuildGauge().Name("reachprobe_dns_answers").Register(reference);
  auto& expiry = prometheus::BuildGauge()
                     .Name("reachprobe_tls_cert_expiry_timestamp_seconds")
                     .Register(reference);

  auto t = target("api.internal");
  t->type = ProbeType::Tls;
  t->ports = {443, 6443};
  t->labels = {{"aa", "first"}, {"pool", "between phase and result"}, {"zz", "q\"b\\s\nn"}};
  const auto endpoints = expand_endpoints({t, target("10.0.0.10")});
  ASSERT_EQ(endpoints.size(), 3u);

  const auto expected = [&](const Endpoint& e, const ProbeResult& r) {
    prometheus::Labels labels = {{"target", e.target_name()},
                                 {"type", std::string(to_string(e.type()))},
                                 {"dst", e.label},
                                 {"vantage", std::string(to_string(e.target->vantage))}};
    for (const auto& [k, v] : e.target->labels) labels.emplace(k, v);
    success.Add(labels).Set(r.ok() ? 1 : 0);
    auto with = labels;
    with.emplace("result", std::string(to_string(Outcome::Ok)));
    probes.Add(with);
    with["result"] = std::string(to_string(r.outcome));
    probes.Add(with).Increment();
    if (r.answers) answers.Add(labels).Set(static_cast<double>(*r.answers));
    if (r.cert_not_after) {
      expiry.Add(labels).Set(static_cast<double>(
          std::chrono::duration_cast<std::chrono::seconds>(r.cert_not_after->time_since_epoch())
              .count()));
    }
    if (!r.ok()) return;
    for (Phase p : kAllPhases) {
      if (!r.phase(p) || (p == Phase::Connect && !r.phase(Phase::Dns))) continue;
      with = labels;
      with.emplace("phase", std::string(to_string(p)));
      duration.Add(with, latency_buckets())
          .Observe(std::chrono::duration<double>(*r.phase(p)).count());
    }
  };

  ProbeResult tls_ok = ok_result(true);
  tls_ok.set_phase(Phase::Tls, 7ms);
  tls_ok.cert_not_after = std::chrono::system_clock::time_point(std::chrono::seconds(1798761600));
  ProbeResult slow = ok_result(true);
  slow.set_phase(Phase::Total, 12s);  // above every bound: only in +Inf
  ProbeResult refused;
  refused.outcome = Outcome::Refused;
  ProbeResult edge = ok_result(false);
  edge.set_phase(Phase::Total, 250us);  // exactly a bound: `le` is inclusive
  edge.answers = 4;

  const std::vector<std::pair<std::size_t, ProbeResult>> script = {
      {0, tls_ok}, {0, slow}, {1, refused}, {1, refused}, {2, edge}, {2, refused}, {0, tls_ok}};
  for (const auto& [i, r] : script) {
    sink.record(endpoints[i], r);
    expected(endpoints[i], r);
  }

  const auto ours = scrape(sink);
  const auto theirs = prometheus::TextSerializer().Serialize(reference.Collect());
  // prometheus-cpp writes 16 significant digits, we the shortest exact text: a sum such as
  // 12.010000000000002 reads as 12.01 there.
  const auto a = test::samples(ours);
  const auto b = test::samples(theirs);
  ASSERT_EQ(a.size(), b.size()) << ours << "\n---\n" << theirs;
  for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
    EXPECT_EQ(i->first, j->first);
    EXPECT_NEAR(i->second, j->second, 1e-12 * std::max(1.0, std::abs(j->second))) << i->first;
  }
  EXPECT_EQ(
      test::sample(
          ours,
          R"(reachprobe_probe_duration_seconds_bucket{aa="first",dst="api.internal:443",phase="total",pool="between phase and result",target="cp",type="tls",zz="q\"b\\s\nn",le="+Inf"})"),
      3.0)
      << ours;
  for (const char* family :
       {"reachprobe_probe_success gauge", "reachprobe_probes_total counter",
        "reachprobe_probe_duration_seconds histogram", "reachprobe_dns_answers gauge",
        "reachprobe_tls_cert_expiry_timestamp_seconds gauge"}) {
    EXPECT_EQ(count(ours, std::string("# TYPE ") + family + "\n"), 1u) << family;
  }
}

// A scrape runs on the renderer thread while the loop records and forgets: every rendered
// histogram is whole (its `_count` is its `+Inf` bucket) and a forgotten series is either
// written entirely or not at all. Under TSan (CI's sanitizer job) this also proves the
// storage race-free.
TEST(MetricsSink, RendersWhileTheLoopRecordsAndForgets) {
  MetricsSink sink;
  const auto endpoints = ip_endpoints(50);
  std::atomic<bool> done{false};
  std::atomic<int> scrapes{0};
  std::string failure;
  std::thread scraper([&] {
    while (!done.load() && scrapes.load() < 2000) {
      const auto text = scrape(sink);
      ++scrapes;
      std::size_t at = 0;
      while ((at = text.find("reachprobe_probe_duration_seconds_count{", at)) !=
             std::string::npos) {
        const auto labels_end = text.find('}', at);
        const auto labels = text.substr(at + 40, labels_end - at - 40);
        const auto count =
            test::sample(text, "reachprobe_probe_duration_seconds_count{" + labels + "}");
        const auto inf = test::sample(
            text, "reachprobe_probe_duration_seconds_bucket{" + labels + ",le=\"+Inf\"}");
        if (!count || !inf || *count != *inf) failure = "torn histogram: " + labels;
        at = labels_end;
      }
    }
  });
  // Until the scraper has overlapped a good number of rounds; bounded in rounds and time.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  for (int round = 0; round < 100000 && (round < 200 || scrapes.load() < 50) &&
                      std::chrono::steady_clock::now() < deadline;
       ++round) {
    for (const auto& e : endpoints) sink.record(e, ok_result(false));
    for (std::size_t i = round % 2; i < endpoints.size(); i += 2) sink.forget(endpoints[i]);
  }
  done = true;
  scraper.join();
  EXPECT_EQ(failure, "");
  EXPECT_GE(scrapes.load(), 50);
  EXPECT_EQ(sink.endpoint_count(), endpoints.size() / 2);
}

// A scrape in pieces is the whole text cut anywhere between series; a piece ends once it
// holds its budget.
TEST(MetricsSink, AnExpositionInPiecesIsTheWholeText) {
  MetricsSink sink;
  const auto endpoints = ip_endpoints(20);
  for (const auto& e : endpoints) sink.record(e, ok_result(false));
  const auto whole = scrape(sink);
  for (std::size_t budget : {1u, 300u, 4096u}) {
    auto e = sink.exposition();
    std::string joined;
    std::size_t pieces = 0;
    for (bool more = true; more && pieces < 100000; ++pieces) {
      std::string piece;
      more = e.next(piece, budget);
      EXPECT_TRUE(!more || piece.size() >= budget) << "a piece short of its budget";
      joined += piece;
    }
    EXPECT_EQ(joined, whole) << "budget " << budget;
    EXPECT_GT(pieces, whole.size() / (budget + 2500)) << "budget " << budget;
  }
}

TEST(SchedulerMetrics, ARemovedTargetTakesItsSkipCountersAlong) {
  prometheus::Registry registry;
  SchedulerMetrics metrics(registry);
  auto kept = target("10.0.0.1");
  kept->name = "kept";
  auto removed = target("10.0.0.2");
  removed->name = "removed";
  const auto endpoints = expand_endpoints({kept, removed});
  ASSERT_EQ(endpoints.size(), 2u);
  for (const auto& e : endpoints) {
    metrics.skipped(e, "late", 2);
    metrics.skipped(e, "overloaded", 1);
  }
  auto text = scrape(registry);
  EXPECT_EQ(count(text, "target=\"removed\""), 2u) << text;

  metrics.retain_targets({"kept"});
  text = scrape(registry);
  EXPECT_EQ(count(text, "target=\"removed\""), 0u) << text;
  EXPECT_NE(text.find("reachprobe_probes_skipped_total{reason=\"late\",target=\"kept\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("reachprobe_probes_skipped_total{reason=\"overloaded\",target=\"kept\"} 1"),
            std::string::npos)
      << text;

  // A target that comes back starts from zero, as a new series.
  metrics.skipped(endpoints[1], "late", 1);
  EXPECT_NE(scrape(registry).find(
                "reachprobe_probes_skipped_total{reason=\"late\",target=\"removed\"} 1"),
            std::string::npos);
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

// A pod-vantage target whose path must be closed: its timeout is success, reported as
// `timeout`, with no latency (no connection was made); an answer is `open` and failure.
TEST(MetricsSink, AClosedPathFromThePodVantageIsJudgedOnceForEveryFamily) {
  MetricsSink sink;
  auto t = target("169.254.169.254");
  t->name = "imds";
  t->ports = {80};
  t->labels = {};
  t->vantage = Vantage::Pod;
  t->expectation = Expectation::Closed;
  auto e = expand_endpoints({t}).front();
  ProbeResult timed_out;
  timed_out.outcome = Outcome::Timeout;
  timed_out.set_phase(Phase::Connect, 2ms);
  timed_out.set_phase(Phase::Total, 1s);
  judge(*t, timed_out);
  sink.record(e, timed_out);
  const std::string labels =
      R"(dst="169.254.169.254:80",target="imds",type="tcp",vantage="pod")";
  auto text = scrape(sink);
  EXPECT_EQ(test::sample(text, "reachprobe_probe_success{" + labels + "}"), 1) << text;
  EXPECT_EQ(
      test::sample(
          text,
          R"(reachprobe_probes_total{dst="169.254.169.254:80",result="timeout",target="imds",type="tcp",vantage="pod"})"),
      1)
      << text;
  EXPECT_EQ(text.find("reachprobe_probe_duration_seconds_count"), std::string::npos) << text;

  ProbeResult answered = ok_result(false);
  judge(*t, answered);
  sink.record(e, answered);
  text = scrape(sink);
  EXPECT_EQ(test::sample(text, "reachprobe_probe_success{" + labels + "}"), 0) << text;
  EXPECT_EQ(
      test::sample(
          text,
          R"(reachprobe_probes_total{dst="169.254.169.254:80",result="open",target="imds",type="tcp",vantage="pod"})"),
      1)
      << text;
}

}  // namespace
}  // namespace reachprobe
