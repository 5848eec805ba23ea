#include "probe/sinks/metrics_sink.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <limits>
#include <map>

#include "probe/sinks/exposition.hpp"
#include "reachprobe/version.hpp"

namespace reachprobe {

namespace {

std::size_t index(Phase p) { return static_cast<std::size_t>(p); }
std::size_t index(Outcome o) { return static_cast<std::size_t>(o); }

double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

constexpr std::array<double, 16> kLatencyBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                   0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                   1,      2.5,     5,      10};

// `le="0.0001"` for each bound, then `le="+Inf"`: written once, not per scrape line.
const std::array<std::string, kLatencyBounds.size() + 1>& le_labels() {
  static const auto labels = [] {
    std::array<std::string, kLatencyBounds.size() + 1> out;
    for (std::size_t i = 0; i < kLatencyBounds.size(); ++i) {
      out[i] = "le=\"";
      exposition::append_value(out[i], kLatencyBounds[i]);
      out[i] += '"';
    }
    out.back() = "le=\"+Inf\"";
    return out;
  }();
  return labels;
}

// One writer (the event loop), any number of readers (a scrape): a relaxed load and store
// is enough and costs no locked instruction per probe.
template <typename T>
void store(std::atomic<T>& a, T v) {
  a.store(v, std::memory_order_relaxed);
}
template <typename T>
T load(const std::atomic<T>& a) {
  return a.load(std::memory_order_relaxed);
}
void increment(std::atomic<std::uint64_t>& a) { store(a, load(a) + 1); }

constexpr std::int64_t kAbsent = std::numeric_limits<std::int64_t>::min();

constexpr std::string_view kSuccess = "reachprobe_probe_success";
constexpr std::string_view kDuration = "reachprobe_probe_duration_seconds";
constexpr std::string_view kProbes = "reachprobe_probes_total";
constexpr std::string_view kDnsAnswers = "reachprobe_dns_answers";
constexpr std::string_view kCertExpiry = "reachprobe_tls_cert_expiry_timestamp_seconds";

}  // namespace

const std::vector<double>& latency_buckets() {
  static const std::vector<double> buckets(kLatencyBounds.begin(), kLatencyBounds.end());
  return buckets;
}

struct LatencyHistogram {
  // Not cumulative; the last counts observations above the largest bound. The scrape sums
  // them, so `_count` and the `+Inf` bucket always agree.
  std::array<std::atomic<std::uint64_t>, kLatencyBounds.size() + 1> counts{};
  std::atomic<double> sum{0};

  void observe(double v) {
    const auto bucket = static_cast<std::size_t>(
        std::lower_bound(kLatencyBounds.begin(), kLatencyBounds.end(), v) - kLatencyBounds.begin());
    increment(counts[bucket]);
    store(sum, load(sum) + v);
  }
};

struct MetricsSink::Series {
  // `dst="..",target="..",type=".."` and the target's labels, sorted by name and
  // escaped; `result` and `phase` go in at their sorted place.
  std::string labels;
  std::size_t result_at = 0;
  std::size_t phase_at = 0;

  std::atomic<std::uint8_t> success{0};
  std::array<std::atomic<std::uint64_t>, kAllOutcomes.size()> results{};
  // Created on the loop when a phase is first measured, published to scrapes by the
  // release store; freed with the series, which a scrape in progress keeps alive.
  std::array<std::atomic<LatencyHistogram*>, kPhaseCount> phases{};
  std::atomic<std::int64_t> dns_answers{kAbsent};
  std::atomic<std::int64_t> cert_expiry{kAbsent};

  Series() = default;
  Series(const Series&) = delete;
  Series& operator=(const Series&) = delete;
  ~Series() {
    for (auto& p : phases) delete p.load(std::memory_order_acquire);
  }

  // The labels with one more, `name="value"`, at the place `at` that was found for it.
  void labels_with(std::string& out, std::size_t at, std::string_view name,
                   std::string_view value) const {
    const std::string_view all = labels;
    // `at` is 0, the start of a label after its comma, or one past the end.
    const auto before = all.substr(0, at == 0 ? 0 : at - 1);
    const auto after = at >= all.size() ? std::string_view{} : all.substr(at);
    out.append(before);
    if (!before.empty()) out.push_back(',');
    out.append(name);
    out.append("=\"");
    out.append(value);
    out.push_back('"');
    if (!after.empty()) out.push_back(',');
    out.append(after);
  }
};

MetricsSink::MetricsSink() = default;
MetricsSink::~MetricsSink() = default;

MetricsSink::Series& MetricsSink::series_for(const Endpoint& endpoint) {
  auto key = endpoint.key();
  auto it = series_.find(key);
  if (it != series_.end()) return *it->second;

  std::map<std::string_view, std::string_view> sorted = {
      {"target", endpoint.target_name()},
      {"type", to_string(endpoint.type())},
      {"dst", endpoint.label},
      {"vantage", to_string(endpoint.target->vantage)}};
  for (const auto& [name, value] : endpoint.target->labels) sorted.emplace(name, value);
  // Built once per series, so they cost nothing per probe.
  if (!endpoint.peer_node().empty()) sorted.emplace("peer_node", endpoint.peer_node());
  if (!endpoint.peer_zone().empty()) sorted.emplace("peer_zone", endpoint.peer_zone());
  auto series = std::make_shared<Series>();
  bool result_placed = false;
  bool phase_placed = false;
  for (const auto& [name, value] : sorted) {
    if (!series->labels.empty()) series->labels.push_back(',');
    // Where an extra label goes: before the first label whose name sorts after it.
    if (!result_placed && name > "result") {
      series->result_at = series->labels.size();
      result_placed = true;
    }
    if (!phase_placed && name > "phase") {
      series->phase_at = series->labels.size();
      phase_placed = true;
    }
    series->labels.append(name);
    series->labels.append("=\"");
    exposition::append_escaped(series->labels, value);
    series->labels.push_back('"');
  }
  if (!result_placed) series->result_at = series->labels.size() + 1;
  if (!phase_placed) series->phase_at = series->labels.size() + 1;

  std::lock_guard lock(mutex_);
  return *series_.emplace(std::move(key), std::move(series)).first->second;
}

void MetricsSink::record(const Endpoint& endpoint, const ProbeResult& result) {
  Series& s = series_for(endpoint);
  store(s.success, static_cast<std::uint8_t>(result.ok() ? 1 : 0));
  increment(s.results[index(result.outcome)]);

  // No reply (a timeout) leaves the count of the last reply standing.
  if (result.answers) store(s.dns_answers, static_cast<std::int64_t>(*result.answers));

  // The last certificate seen stays until another replaces it: a probe that times out has
  // not seen the certificate change.
  if (result.cert_not_after) {
    store(s.cert_expiry, static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                                       result.cert_not_after->time_since_epoch())
                                                       .count()));
  }

  // Latency is of connections made: a closed path's timeout is a success without any.
  if (result.outcome != Outcome::Ok) return;
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
    auto& slot = s.phases[index(p)];
    auto* histogram = slot.load(std::memory_order_relaxed);
    if (histogram == nullptr) {
      histogram = new LatencyHistogram();
      slot.store(histogram, std::memory_order_release);
    }
    histogram->observe(seconds(*d));
  }
}

void MetricsSink::forget(const Endpoint& endpoint) {
  auto it = series_.find(endpoint.key());
  if (it == series_.end()) return;
  std::shared_ptr<Series> gone;  // freed outside the lock
  std::lock_guard lock(mutex_);
  gone = std::move(it->second);
  series_.erase(it);
}

namespace {

struct FamilyInfo {
  std::string_view name;
  std::string_view help;
  std::string_view type;
};

constexpr std::size_t kSuccessFamily = 0;
constexpr std::size_t kDurationFamily = 1;
constexpr std::size_t kProbesFamily = 2;
constexpr std::size_t kDnsAnswersFamily = 3;

// In the order they are written; the indexes above point into it.
constexpr std::array<FamilyInfo, 5> kFamilies = {{
    {kSuccess, "1 if the last probe of the endpoint succeeded, else 0", "gauge"},
    {kDuration, "Latency of each phase of successful probes", "histogram"},
    {kProbes, "Probes by result", "counter"},
    {kDnsAnswers, "Records of the asked type in the last DNS reply of a dns probe", "gauge"},
    {kCertExpiry,
     "When the leaf certificate last presented to a tls or https probe expires, in seconds "
     "since the epoch",
     "gauge"},
}};

}  // namespace

MetricsSink::Exposition MetricsSink::exposition() const {
  Exposition e;
  std::lock_guard lock(mutex_);
  e.series_.reserve(series_.size());
  for (const auto& [key, series] : series_) e.series_.push_back(series);
  return e;
}

void MetricsSink::render(std::string& out) const {
  auto e = exposition();
  while (e.next(out, std::numeric_limits<std::size_t>::max())) {
  }
}

bool MetricsSink::Exposition::next(std::string& out, std::size_t budget) {
  while (family_ < kFamilies.size()) {
    if (out.size() >= budget) return true;
    if (!header_written_) {
      const auto& f = kFamilies[family_];
      exposition::append_header(out, f.name, f.help, f.type);
      header_written_ = true;
    }
    while (index_ < series_.size() && out.size() < budget) {
      write(out, family_, *series_[index_++], scratch_);
    }
    if (index_ < series_.size()) return true;
    ++family_;
    index_ = 0;
    header_written_ = false;
  }
  series_.clear();  // the scrape no longer holds forgotten series
  return false;
}

void MetricsSink::Exposition::write(std::string& out, std::size_t family, const Series& s,
                                    std::string& labels) {
  const std::string_view name = kFamilies[family].name;
  // `name{labels} value` (`name{labels,le="..."} value` for a bucket), one line.
  const auto sample = [&](std::string_view suffix, std::string_view with, auto value,
                          std::string_view le = {}) {
    out.append(name);
    out.append(suffix);
    out.push_back('{');
    out.append(with);
    if (!le.empty()) {
      out.push_back(',');
      out.append(le);
    }
    out.append("} ");
    exposition::append_value(out, value);
    out.push_back('\n');
  };
  switch (family) {
    case kSuccessFamily:
      sample("", s.labels, std::uint64_t{load(s.success)});
      return;
    case kDurationFamily:
      for (Phase p : kAllPhases) {
        const auto* h = s.phases[index(p)].load(std::memory_order_acquire);
        if (h == nullptr) continue;
        std::array<std::uint64_t, kLatencyBounds.size() + 1> counts{};
        std::uint64_t total = 0;
        for (std::size_t i = 0; i < counts.size(); ++i) total += counts[i] = load(h->counts[i]);
        labels.clear();
        s.labels_with(labels, s.phase_at, "phase", to_string(p));
        sample("_count", labels, total);
        sample("_sum", labels, load(h->sum));
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < counts.size(); ++i) {
          cumulative += counts[i];
          sample("_bucket", labels, cumulative, le_labels()[i]);
        }
      }
      return;
    case kProbesFamily:
      for (Outcome o : kAllOutcomes) {
        const auto n = load(s.results[index(o)]);
        if (n == 0 && o != Outcome::Ok) continue;
        labels.clear();
        s.labels_with(labels, s.result_at, "result", to_string(o));
        sample("", labels, n);
      }
      return;
    default:
      if (const auto v = load(family == kDnsAnswersFamily ? s.dns_answers : s.cert_expiry);
          v != kAbsent) {
        sample("", s.labels, v);
      }
      return;
  }
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

void SchedulerMetrics::retain_targets(const std::unordered_set<std::string>& names) {
  for (auto it = skipped_by_target_.begin(); it != skipped_by_target_.end();) {
    const auto target = it->first.substr(0, it->first.find('\x1f'));
    if (names.contains(target)) {
      ++it;
    } else {
      skipped_.Remove(it->second);
      it = skipped_by_target_.erase(it);
    }
  }
}

FanOutMetrics::FanOutMetrics(prometheus::Registry& registry)
    : truncated_(prometheus::BuildCounter()
                     .Name("reachprobe_fanout_truncated_total")
                     .Help("Probes of a dns target with connect_port whose answer held more "
                           "addresses than the default bound lets it connect to (no "
                           "max_connect); it connected to the node's rendezvous choice")
                     .Register(registry)) {}

void FanOutMetrics::record(const Endpoint& endpoint, const ProbeResult& result) {
  if (!result.fanout_cut || !result.fanout_cut->default_bound) return;
  if (auto it = by_target_.find(endpoint.target_name()); it != by_target_.end()) {
    it->second->Increment();
  }
}

void FanOutMetrics::set_targets(const std::vector<std::shared_ptr<const Target>>& targets) {
  std::unordered_map<std::string, prometheus::Counter*> next;
  for (const auto& target : targets) {
    if (target->type != ProbeType::Dns || !target->connect_port || target->max_connect) continue;
    if (auto it = by_target_.find(target->name); it != by_target_.end()) {
      next.emplace(it->first, it->second);
      by_target_.erase(it);
    } else {
      next.emplace(target->name, &truncated_.Add({{"target", target->name}}));
    }
  }
  for (auto& [name, counter] : by_target_) truncated_.Remove(counter);
  by_target_ = std::move(next);
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
