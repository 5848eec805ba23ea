#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "probe/engine/result_sink.hpp"

namespace reachprobe {

// Bucket bounds for network latency, 100us to 10s: loopback and same-AZ connects land in
// the first buckets, cross-region TLS in the middle, stalls at the top.
const std::vector<double>& latency_buckets();

// The per-endpoint families of SPEC.md, in flat per-endpoint storage rendered straight to
// the text format. Not prometheus-cpp: its per-series label maps, mutexes and the copy of
// every series that Collect() makes cost 24 MB and 23 ms per scrape with 10,000 endpoints;
// here an endpoint is one label string and a few counters.
// Cardinality is deliberate: only phases a probe has get a histogram (a tcp probe of an
// IP literal has only `total`, since its connect time is the total), and a `result`
// counter exists once that result has happened (`ok` from the start, so rate() works).
// `reachprobe_dns_answers` exists only for endpoints whose results carry an answer count
// (dns probes), with the same labels as their other series so that it joins with them;
// `reachprobe_tls_cert_expiry_timestamp_seconds` likewise for endpoints that were handed a
// certificate (tls, https).
class MetricsSink final : public ResultSink {
 public:
  MetricsSink();
  ~MetricsSink() override;

  // On the event loop.
  void record(const Endpoint& endpoint, const ProbeResult& result) override;
  void forget(const Endpoint& endpoint) override;
  std::size_t endpoint_count() const { return series_.size(); }

  struct Series;

  // One scrape of the families in the Prometheus text format (0.0.4), label names in the
  // order prometheus-cpp writes them, handed out in pieces: with 10,000 endpoints the text
  // is 25 MB, which a scrape should neither hold at once nor make the client wait for.
  // The series are held from the start of the scrape, so one that is forgotten meanwhile
  // is still written whole, once. next() may run on another thread while the loop
  // records: values are atomics with one writer.
  class Exposition {
   public:
    // Appends until `out` holds at least `budget` bytes or all is written; false once all
    // is written.
    bool next(std::string& out, std::size_t budget);

   private:
    friend class MetricsSink;
    static void write(std::string& out, std::size_t family, const Series& series,
                      std::string& scratch);
    std::vector<std::shared_ptr<const Series>> series_;
    std::size_t family_ = 0;
    std::size_t index_ = 0;
    bool header_written_ = false;
    std::string scratch_;
  };
  // On the event loop (a short lock): the scrape's snapshot of the series.
  Exposition exposition() const;
  // The whole exposition at once.
  void render(std::string& out) const;

 private:
  Series& series_for(const Endpoint& endpoint);

  std::unordered_map<std::string, std::shared_ptr<Series>> series_;
  // Guards series_ against a scrape taking its snapshot while the loop adds or removes
  // one; lookups on the loop (the only writer) need no lock.
  mutable std::mutex mutex_;
};

// How the scheduler keeps up: skipped slots per target and reason, how late probes start.
// Per target, not per endpoint, so overload costs no extra series per endpoint.
class SchedulerMetrics {
 public:
  explicit SchedulerMetrics(prometheus::Registry& registry);
  void started(const Endpoint& endpoint, Duration lag);
  void skipped(const Endpoint& endpoint, std::string_view reason, std::uint64_t slots);
  // Drops the skip counters of targets a reload removed: renamed targets must not add series
  // for as long as the process lives.
  void retain_targets(const std::unordered_set<std::string>& names);

 private:
  prometheus::Family<prometheus::Counter>& skipped_;
  prometheus::Histogram& lag_;
  std::unordered_map<std::string, prometheus::Counter*> skipped_by_target_;
};

// reachprobe_fanout_truncated_total{target}: probes of a dns target whose connect fan-out
// the default bound (kDefaultMaxConnect) cut short, i.e. an answer larger than anyone chose
// to connect to. A series per dns target with connect_port and no max_connect, from 0, so
// increase() sees the first cut; none per endpoint. A cut by max_connect is configured and
// not counted.
class FanOutMetrics final : public ResultSink {
 public:
  explicit FanOutMetrics(prometheus::Registry& registry);
  void record(const Endpoint& endpoint, const ProbeResult& result) override;
  // The targets in force: series for those that can be cut, the others' removed.
  void set_targets(const std::vector<std::shared_ptr<const Target>>& targets);

 private:
  prometheus::Family<prometheus::Counter>& truncated_;
  std::unordered_map<std::string, prometheus::Counter*> by_target_;
};

// Process-wide families that are not per endpoint.
class DaemonMetrics {
 public:
  explicit DaemonMetrics(prometheus::Registry& registry);
  void config_loaded(bool successful);

 private:
  prometheus::Gauge& reload_successful_;
  prometheus::Gauge& reload_timestamp_;
};

}  // namespace reachprobe
