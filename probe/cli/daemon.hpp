#pragma once

#include <prometheus/registry.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <string>

#include "probe/cli/cli.hpp"
#include "probe/cli/config_watcher.hpp"
#include "probe/cli/loading.hpp"
#include "probe/engine/scheduler.hpp"
#include "probe/http/server.hpp"
#include "probe/kube/discovery.hpp"
#include "probe/kube/inbound_ports.hpp"
#include "probe/probers/prober_set.hpp"
#include "probe/sinks/log_sink.hpp"
#include "probe/sinks/metrics_sink.hpp"
#include "probe/sinks/process_collector.hpp"

namespace reachprobe::cli {

// `reachprobe run`: the composition root. Owns the config in force, the probers built from
// it, the sinks, the scheduler and the HTTP server, all on one io_context. A reload (SIGHUP,
// or the config file changing) replaces the config only if the new one is valid: the
// daemon never loses its last good config.
class Daemon {
 public:
  Daemon(boost::asio::io_context& io, Options options);
  ~Daemon();

  // Loads the config, starts probing and serving. Returns an exit status if it cannot
  // (2: invalid config, 1: cannot listen), nullopt once running.
  std::optional<int> start();
  // Re-reads the config file; `why` is logged ("SIGHUP", "file changed").
  void reload(std::string_view why);
  // Stops probing and serving; io_context::run() returns.
  void shutdown(std::string_view why);

  bool ready() const;
  // The endpoint the HTTP server listens on (start() must have succeeded).
  boost::asio::ip::tcp::endpoint listening() const { return server_->local_endpoint(); }

 private:
  // A scrape of /metrics: the registry's and the process families, then the endpoints'.
  std::unique_ptr<http::MetricsStream> open_metrics() const;
  bool apply(LoadedConfig loaded);
  // This node's IMDS facts for a config that asks: read once, at start (a reload that turns
  // `aws.imds` on gets them at the next restart).
  const aws::NodeFacts* node_facts(bool at_start);
  void export_node_info();
  // Starts, changes or stops the watches the targets need.
  void discover(const LoadedConfig& loaded, const dns::ResolverOptions& settings,
                const KubernetesApi& kubernetes);
  // The endpoints of `targets`, discovered ones from the sets known now.
  std::vector<Endpoint> endpoints_of(
      const std::vector<std::shared_ptr<const Target>>& targets) const;
  // A discovered set changed: the endpoints are recomputed once per turn of the loop and
  // applied like a reload.
  void rediscovered();
  // The endpoints of the config in force, from the sets known now: the watches follow the
  // Services the webhooks name, the consumer series and the log follow the ports.
  std::vector<Endpoint> current_endpoints(
      const std::vector<std::shared_ptr<const Target>>& targets);
  void wait_for_sighup();
  void flush_logs_periodically();

  boost::asio::io_context& io_;
  Options options_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  MetricsSink metrics_;
  SchedulerMetrics scheduler_metrics_{*registry_};
  DaemonMetrics daemon_metrics_{*registry_};
  std::shared_ptr<ProcessCollector> process_metrics_ = std::make_shared<ProcessCollector>();
  FanOutMetrics fanout_metrics_{*registry_};
  StateChangeLogSink log_sink_;
  FanOutSink sinks_{{&metrics_, &fanout_metrics_, &log_sink_}};
  Scheduler scheduler_{io_, sinks_};
  std::optional<LoadedConfig> current_;
  std::optional<aws::NodeFacts> node_facts_;
  dns::ResolverOptions dns_settings_;
  KubernetesApi kubernetes_;
  std::unique_ptr<ProberSet> probers_;
  std::string node_name_;
  std::unique_ptr<kube::Discovery> discovery_;
  // `discover: webhooks`: which webhook configurations and APIServices need each port.
  kube::InboundConsumerInfo consumer_info_{*registry_};
  std::optional<kube::InboundPorts> inbound_ports_;  // as last logged
  bool rediscovery_pending_ = false;
  std::unique_ptr<http::Server> server_;
  boost::asio::signal_set stop_signals_{io_, SIGINT, SIGTERM};
  boost::asio::signal_set reload_signal_{io_, SIGHUP};
  std::unique_ptr<ConfigWatcher> watcher_;
  // Writes the log sink's summaries when their window ends, also when nothing changes.
  boost::asio::steady_timer log_flush_timer_{io_};
  mutable bool was_ready_ = false;
};

// The concurrency limit when the config leaves it to us: what the open-file limit allows
// with room for the server and c-ares, after raising the soft limit to the hard one.
std::size_t default_max_concurrent_probes();

}  // namespace reachprobe::cli
