#include "probe/sinks/metrics_sink.hpp"

#include <algorithm>
#include <chrono>

#include "reachprobe/version.hpp"

namespace reachprobe {

namespace {

std::size_t index(Phase p) { return static_cast<std::size_t>(p); }
std::size_t index(Outcome o) { return static_cast<std::size_t>(o); }

double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

const std::vector<double>& latency_buckets() {
  static const std::vector<double> buckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                              0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                              1,      2.5,     5,      10};
  return buckets;
}

struct MetricsSink::Series {
  prometheus::Labels labels;
  prometheus::Gauge* success = nullptr;
  std::array<prometheus::Histogram*, kPhaseCount> phases{};
  std::array<prometheus::Counter*, kAllOutcomes.size()> results{};
  prometheus::Gauge* dns_answers = nullptr;
  prometheus::Gauge* cert_expiry = nullptr;
};

MetricsSink::MetricsSink(prometheus::Registry& registry)
    : success_(prometheus::BuildGauge()
                   .Name("reachprobe_probe_success")
                   .Help("1 if the last probe of the endpoint succeeded, else 0")
                   .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("reachprobe_probe_duration_seconds")
                    .Help("Latency of each phase of successful probes")
                    .Register(registry)),
      probes_(prometheus::BuildCounter()
                  .Name("reachprobe_probes_total")
                  .Help("Probes by result")
                  .Register(registry)),
      dns_answers_(prometheus::BuildGauge()
                       .Name("reachprobe_dns_answers")
                       .Help("Records of the asked type in the last DNS reply of a dns probe")
                       .Register(registry)),
      cert_expiry_(prometheus::BuildGauge()
                       .Name("reachprobe_tls_cert_expiry_timestamp_seconds")
                       .Help("When the leaf certificate last presented to a tls or https probe "
                             "expires, in seconds since the epoch")
                       .Register(registry)) {}

MetricsSink::~MetricsSink() = default;

MetricsSink::Series& MetricsSink::series_for(const Endpoint& endpoint) {
  auto key = endpoint.key();
  auto it = series_.find(key);
  if (it != series_.end()) return *it->second;

  auto series = std::make_unique<Series>();
  series->labels = {{"target", endpoint.target_name()},
                    {"type", std::string(to_string(endpoint.type()))},
                    {"endpoint", endpoint.label}};
  for (const auto& [name, value] : endpoint.target->labels) series->labels.emplace(name, value);
  series->success = &success_.Add(series->labels);
  auto ok_labels = series->labels;
  ok_labels.emplace("result", std::string(to_string(Outcome::Ok)));
  series->results[index(Outcome::Ok)] = &probes_.Add(ok_labels);
  return *series_.emplace(std::move(key), std::move(series)).first->second;
}

void MetricsSink::record(const Endpoint& endpoint, const ProbeResult& result) {
  Series& s = series_for(endpoint);
  s.success->Set(result.ok() ? 1 : 0);

  auto*& counter = s.results[index(result.outcome)];
  if (counter == nullptr) {
    auto labels = s.labels;
    labels.emplace("result", std::string(to_string(result.outcome)));
    counter = &probes_.Add(labels);
  }
  counter->Increment();

  // No reply (a timeout) leaves the count of the last reply standing.
  if (result.answers) {
    if (s.dns_answers == nullptr) s.dns_answers = &dns_answers_.Add(s.labels);
    s.dns_answers->Set(static_cast<double>(*result.answers));
  }

  // The last certificate seen stays until another replaces it: a probe that times out has
  // not seen the certificate change.
  if (result.cert_not_after) {
    if (s.cert_expiry == nullptr) s.cert_expiry = &cert_expiry_.Add(s.labels);
    s.cert_expiry->Set(static_cast<double>(
        std::chrono::duration_cast<std::chrono::seconds>(result.cert_not_after->time_since_epoch())
            .count()));
  }

  if (!result.ok()) return;
  std::size_t measured = 0;
  for (Phase p : kAllPhases) {
    if (p != Phase::Total && result.phase(p)) ++measured;
  }
  for (Phase p : kAllPhases) {
    auto d = result.phase(p);
    if (!d) continue;
    // A lone connect phase (a tcp probe of an IP literal, an address a dns probe connected
    // to) is the total: keeping both would double the series for nothing. A lone dns phase
    // stays: dashboards ask for phase="dns" of dns probes by name.
    if (p == Phase::Connect && measured < 2) continue;
    auto*& histogram = s.phases[index(p)];
    if (histogram == nullptr) {
      auto labels = s.labels;
      labels.emplace("phase", std::string(to_string(p)));
      histogram = &duration_.Add(labels, latency_buckets());
    }
    histogram->Observe(seconds(*d));
  }
}

void MetricsSink::forget(const Endpoint& endpoint) {
  auto it = series_.find(endpoint.key());
  if (it == series_.end()) return;
  Series& s = *it->second;
  success_.Remove(s.success);
  for (auto* h : s.phases) {
    if (h) duration_.Remove(h);
  }
  for (auto* c : s.results) {
    if (c) probes_.Remove(c);
  }
  if (s.dns_answers) dns_answers_.Remove(s.dns_answers);
  if (s.cert_expiry) cert_expiry_.Remove(s.cert_expiry);
  series_.erase(it);
}

SchedulerMetrics::SchedulerMetrics(prometheus::Registry& registry)
    : skipped_(prometheus::BuildCounter()
                   .Name("reachprobe_probes_skipped_total")
                   .Help("Probe slots that passed without a probe: overloaded (the concurrency "
                         "limit was reached) or late (the previous probe or the event loop ran "
                         "past the slot)")
                   .Register(registry)),
      lag_(prometheus::BuildHistogram()
               .Name("reachprobe_scheduler_lag_seconds")
               .Help("How late probes start after their scheduled slot")
               .Register(registry)
               .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.001, 0.005, 0.01, 0.05,
                                                                0.1, 0.5, 1, 5})) {}

void SchedulerMetrics::started(const Endpoint&, Duration lag) {
  lag_.Observe(std::max(0.0, seconds(lag)));
}

void SchedulerMetrics::skipped(const Endpoint& endpoint, std::string_view reason,
                               std::uint64_t slots) {
  std::string key = endpoint.target_name();
  key += '\x1f';
  key += reason;
  auto& counter = skipped_by_target_[key];
  if (counter == nullptr) {
    counter = &skipped_.Add({{"target", endpoint.target_name()}, {"reason", std::string(reason)}});
  }
  counter->Increment(static_cast<double>(slots));
}

DaemonMetrics::DaemonMetrics(prometheus::Registry& registry)
    : reload_successful_(prometheus::BuildGauge()
                             .Name("reachprobe_config_last_reload_successful")
                             .Help("1 if the last (re)load of the config succeeded")
                             .Register(registry)
                             .Add({})),
      reload_timestamp_(prometheus::BuildGauge()
                            .Name("reachprobe_config_last_reload_success_timestamp_seconds")
                            .Help("Unix time of the last successful (re)load of the config")
                            .Register(registry)
                            .Add({})) {
  prometheus::BuildGauge()
      .Name("reachprobe_build_info")
      .Help("Always 1; the version of the running reachprobe")
      .Register(registry)
      .Add({{"version", kVersion}})
      .Set(1);
}

void DaemonMetrics::config_loaded(bool successful) {
  reload_successful_.Set(successful ? 1 : 0);
  if (successful) {
    reload_timestamp_.Set(
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  }
}

}  // namespace reachprobe
