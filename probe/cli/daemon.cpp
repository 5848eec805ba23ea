#include "probe/cli/daemon.hpp"

#include <fmt/format.h>
#include <malloc.h>
#include <prometheus/gauge.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <csignal>
#include <cstring>
#include <iostream>
#include <map>
#include <unordered_set>

#include "probe/aws/imds.hpp"
#include "probe/core/node_name.hpp"
#include "probe/kube/expand.hpp"
#include "probe/log/logging.hpp"
#include "probe/sinks/exposition.hpp"
#include "reachprobe/version.hpp"

namespace reachprobe::cli {

namespace {

bool same_dns_settings(const dns::ResolverOptions& a, const dns::ResolverOptions& b) {
  return a.servers == b.servers && a.resolv_conf_path == b.resolv_conf_path &&
         a.hosts_path == b.hosts_path && a.attempt_timeout == b.attempt_timeout &&
         a.attempts == b.attempts;
}

std::string_view skip_reason(SkipReason r) {
  return r == SkipReason::Overloaded ? "overloaded" : "late";
}

}  // namespace

std::size_t default_max_concurrent_probes() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1000;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  const auto fds = limit.rlim_cur == RLIM_INFINITY ? 1u << 20 : limit.rlim_cur;
  // Every probe in flight holds a socket; keep 128 for the HTTP server, c-ares and files.
  return std::clamp<std::size_t>(fds > 256 ? fds - 128 : fds / 2, 16, 50000);
}

namespace {

LoadOutcome load_and_release(const std::string& path, const NodeFactsSource& facts) {
  auto outcome = load_config(path, facts);
#ifdef __GLIBC__
  // Parsing a config of 10,000 targets leaves some 30 MB of freed YAML nodes in the heap
  // under live data, which glibc keeps resident until asked to give them back.
  malloc_trim(0);
#endif
  return outcome;
}

}  // namespace

Daemon::Daemon(boost::asio::io_context& io, Options options)
    : io_(io), options_(std::move(options)), node_name_(this_node_name()) {
#ifdef __GLIBC__
  // One malloc arena: the renderer thread would otherwise get an arena of its own that
  // keeps the pieces of the last scrape resident, and two threads that mostly wait contend
  // for nothing. A fixed mmap threshold (glibc raises its default one after each large
  // free): whatever large buffer there is goes back to the kernel when freed.
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
  scheduler_.observer.on_start = [this](const Endpoint& e, Duration lag) {
    scheduler_metrics_.started(e, lag);
  };
  scheduler_.observer.on_skip = [this](const Endpoint& e, SkipReason r, std::uint64_t slots) {
    scheduler_metrics_.skipped(e, skip_reason(r), slots);
  };
}

Daemon::~Daemon() { scheduler_.stop(); }

const aws::NodeFacts* Daemon::node_facts(bool at_start) {
  if (!node_facts_ && at_start) node_facts_ = aws::read_node_facts(io_);
  if (!node_facts_) {
    log::event(spdlog::level::warn,
               "aws.imds is read at start: restart to use it (${AWS_REGION} has no IMDS "
               "fallback until then)");
    return nullptr;
  }
  return &*node_facts_;
}

void Daemon::export_node_info() {
  if (!node_facts_ || node_facts_->empty()) return;
  // One series per node, for joins: failures grouped by zone and subnet.
  std::map<std::string, std::string> labels;
  auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) labels[name] = value;
  };
  add("zone", node_facts_->availability_zone);
  add("subnet_id", node_facts_->subnet_id);
  add("instance_id", node_facts_->instance_id);
  add("vpc_id", node_facts_->vpc_id);
  prometheus::BuildGauge()
      .Name("reachprobe_node_info")
      .Help("This node's AWS placement from IMDS (always 1): join on it to group by zone or subnet")
      .Register(*registry_)
      .Add(labels)
      .Set(1);
}

std::optional<int> Daemon::start() {
  auto outcome = load_and_release(options_.config_path, [this] { return node_facts(true); });
  if (!outcome.loaded) {
    for (const auto& e : outcome.errors) std::cerr << e.to_string() << "\n";
    return 2;
  }
  if (!options_.listen.empty()) {
    if (auto problem = config::listen_address_problem(options_.listen)) {
      std::cerr << "reachprobe: --listen " << options_.listen << ": " << *problem << "\n";
      return 2;
    }
  }
  const std::string listen =
      options_.listen.empty() ? outcome.loaded->config.listen : options_.listen;
  http::WebConfig web;
  if (!options_.web_config_path.empty()) {
    auto loaded = http::load_web_config(options_.web_config_path);
    if (!loaded.config) {
      for (const auto& e : loaded.errors) std::cerr << e << "\n";
      return 2;
    }
    web = std::move(*loaded.config);
  }
  if (!apply(std::move(*outcome.loaded))) return 2;
  if (current_->config.aws.imds) export_node_info();

  try {
    http::Handlers handlers;
    handlers.open_metrics = [this] { return open_metrics(); };
    handlers.ready = [this] { return ready(); };
    http::ServerOptions server_options;
    server_options.listen = listen;
    server_options.web = web;
    server_ = std::make_unique<http::Server>(io_, server_options, std::move(handlers));
  } catch (const std::exception& e) {
    log::event(spdlog::level::err, "cannot start the HTTP server", {{"error", e.what()}});
    scheduler_.stop();
    return 1;
  }

  flush_logs_periodically();
  stop_signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (!ec) shutdown(strsignal(signal));
  });
  wait_for_sighup();
  if (!options_.config_path.empty()) {
    watcher_ = std::make_unique<ConfigWatcher>(io_, options_.config_path,
                                               [this] { reload("config file changed"); });
  }
  const auto at = server_->local_endpoint();
  log::event(spdlog::level::info, "reachprobe started",
             {{"version", kVersion},
              {"listen", fmt::format("{}:{}", at.address().to_string(), at.port())},
              {"tls", web.tls ? "on" : "off"},
              {"metrics_auth", web.requires_auth() ? "on" : "off"},
              {"targets", std::to_string(current_->targets.size())},
              {"endpoints", std::to_string(scheduler_.endpoint_count())}});
  return std::nullopt;
}

void Daemon::flush_logs_periodically() {
  log_flush_timer_.expires_after(std::chrono::seconds(1));
  log_flush_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    log_sink_.flush();
    flush_logs_periodically();
  });
}

void Daemon::wait_for_sighup() {
  reload_signal_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    reload("SIGHUP");
    wait_for_sighup();
  });
}

bool Daemon::apply(LoadedConfig loaded) {
  auto settings = resolver_options(loaded.config);
  auto kubernetes = kubernetes_api(loaded.config);
  // Probers keep their state (resolver channels, TLS contexts, inbound listeners) across
  // reloads that do not change what they are built from.
  if (!probers_ || !same_dns_settings(settings, dns_settings_) || kubernetes != kubernetes_) {
    try {
      probers_ = std::make_unique<ProberSet>(make_probers({io_, settings, node_name_, kubernetes}));
    } catch (const std::exception& e) {
      const std::string where = options_.config_path.empty() ? "<built-in>" : options_.config_path;
      std::cerr << where << ": dns: " << e.what() << "\n";
      log::event(spdlog::level::err, "config rejected", {{"error", e.what()}});
      return false;
    }
    dns_settings_ = settings;
    kubernetes_ = kubernetes;
  }
  scheduler_.set_max_in_flight(loaded.config.max_concurrent_probes != 0
                                   ? loaded.config.max_concurrent_probes
                                   : default_max_concurrent_probes());
  discover(loaded, settings, kubernetes);
  scheduler_.update(current_endpoints(loaded.targets), *probers_);
  std::unordered_set<std::string> names;
  for (const auto& target : loaded.targets) names.insert(target->name);
  scheduler_metrics_.retain_targets(names);
  fanout_metrics_.set_targets(loaded.targets);
  current_ = std::move(loaded);
  daemon_metrics_.config_loaded(true);
  return true;
}

void Daemon::discover(const LoadedConfig& loaded, const dns::ResolverOptions& settings,
                      const KubernetesApi& kubernetes) {
  const auto sources = kube::sources_of(loaded.targets);
  if (!discovery_) {
    if (sources.empty()) return;
    // The resolver only matters for an api_server given by name (in-cluster it is an IP);
    // settings c-ares cannot use were rejected when the probers were built from them.
    discovery_ = std::make_unique<kube::Discovery>(
        io_, std::make_shared<dns::Resolver>(io_, settings), kubernetes, registry_.get());
    discovery_->on_change([this](const kube::SourceKey&) { rediscovered(); });
  }
  discovery_->set_api(kubernetes);
  // The Services the webhooks name are kept across a reload (they depend on sets, not on
  // the config): restarting their watches would drop their sets.
  discovery_->set_sources(kube::sources_of(
      loaded.targets, [this](const kube::SourceKey& key) { return discovery_->set(key); }));
}

std::vector<Endpoint> Daemon::endpoints_of(
    const std::vector<std::shared_ptr<const Target>>& targets) const {
  if (!discovery_) return expand_endpoints(targets);
  return kube::expand_all(
      targets, [this](const kube::SourceKey& key) { return discovery_->set(key); }, node_name_);
}

void Daemon::rediscovered() {
  if (rediscovery_pending_) return;
  rediscovery_pending_ = true;
  boost::asio::post(io_, [this] {
    rediscovery_pending_ = false;
    if (!current_ || !probers_) return;
    scheduler_.update(current_endpoints(current_->targets), *probers_);
  });
}

std::vector<Endpoint> Daemon::current_endpoints(
    const std::vector<std::shared_ptr<const Target>>& targets) {
  const bool webhooks = std::any_of(targets.begin(), targets.end(),
                                    [](const auto& t) { return t->discover_webhooks; });
  if (!webhooks || !discovery_) {
    if (inbound_ports_) consumer_info_.set({});
    inbound_ports_.reset();
    return endpoints_of(targets);
  }
  const kube::SetLookup lookup = [this](const kube::SourceKey& key) {
    return discovery_->set(key);
  };
  // A webhook naming a Service not watched yet: its watch starts, and its set comes as a
  // change of its own.
  discovery_->set_sources(kube::sources_of(targets, lookup));
  auto endpoints = endpoints_of(targets);
  auto found = kube::resolve_inbound_ports(lookup);
  if (found != inbound_ports_) {
    std::string ports, not_probed;
    for (const auto& [port, consumers] : found.ports) {
      ports +=
          fmt::format("{}{} ({})", ports.empty() ? "" : "; ", port, describe_consumers(consumers));
    }
    for (const auto& u : found.not_probed) {
      not_probed +=
          fmt::format("{}{}: {}", not_probed.empty() ? "" : "; ", u.consumer.to_string(), u.why);
    }
    log::event(spdlog::level::info, "inbound ports from webhooks and APIServices",
               {{"ports", ports}, {"not_probed", not_probed}});
    inbound_ports_ = std::move(found);
  }
  consumer_info_.set(endpoints);
  return endpoints;
}

void Daemon::reload(std::string_view why) {
  auto outcome = load_and_release(options_.config_path, [this] { return node_facts(false); });
  if (!outcome.loaded) {
    for (const auto& e : outcome.errors) {
      log::event(spdlog::level::err, "config rejected, keeping the last good one",
                 {{"trigger", why}, {"error", e.to_string()}});
    }
    daemon_metrics_.config_loaded(false);
    return;
  }
  if (current_ && outcome.loaded->text == current_->text) {
    // A touch, or a rollback to the config in force: nothing to change, and the config in
    // force is what the file says again.
    daemon_metrics_.config_loaded(true);
    return;
  }
  if (current_ && outcome.loaded->config.listen != current_->config.listen &&
      options_.listen.empty()) {
    log::event(spdlog::level::warn, "listen address changed: it takes effect at the next restart",
               {{"listen", outcome.loaded->config.listen}});
  }
  if (!apply(std::move(*outcome.loaded))) {
    daemon_metrics_.config_loaded(false);
    return;
  }
  log::event(spdlog::level::info, "config reloaded",
             {{"trigger", why},
              {"targets", std::to_string(current_->targets.size())},
              {"endpoints", std::to_string(scheduler_.endpoint_count())}});
}

void Daemon::shutdown(std::string_view why) {
  log::event(spdlog::level::info, "shutting down", {{"signal", why}});
  scheduler_.stop();
  if (discovery_) discovery_->stop();
  if (server_) server_->stop();
  watcher_.reset();
  log_flush_timer_.cancel();
  log_sink_.flush(true);
  boost::system::error_code ignored;
  stop_signals_.cancel(ignored);
  reload_signal_.cancel(ignored);
  // Probes in flight are abandoned: their sockets close when the io_context is destroyed.
  io_.stop();
}

bool Daemon::ready() const {
  // Once every endpoint had a result the daemon stays ready: a reload adding endpoints must
  // not take a working pod out of service.
  if (!was_ready_ && current_ && scheduler_.all_probed_once()) was_ready_ = true;
  return was_ready_;
}

namespace {

class DaemonExposition final : public http::MetricsStream {
 public:
  DaemonExposition(std::shared_ptr<prometheus::Registry> registry,
                   std::shared_ptr<ProcessCollector> process, MetricsSink::Exposition endpoints,
                   Vantage vantage)
      : vantage_(vantage),
        registry_(std::move(registry)),
        process_(std::move(process)),
        endpoints_(std::move(endpoints)) {}

  bool next(std::string& out, std::size_t budget) override {
    if (registry_) {
      // The few families that are not per endpoint, in the first piece.
      auto families = registry_->Collect();
      auto process = process_->Collect();
      families.insert(families.end(), process.begin(), process.end());
      // Every series carries the vantage (the per-endpoint ones from their target), so a
      // node's and a pod's reachprobe on one node never collide and can be compared.
      for (auto& family : families) {
        for (auto& metric : family.metric) {
          metric.label.push_back({"vantage", std::string(to_string(vantage_))});
          std::sort(metric.label.begin(), metric.label.end(),
                    [](const auto& a, const auto& b) { return a.name < b.name; });
        }
      }
      render_text(families, out);
      registry_.reset();
    }
    return endpoints_.next(out, budget);
  }

 private:
  Vantage vantage_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<ProcessCollector> process_;
  MetricsSink::Exposition endpoints_;
};

}  // namespace

std::unique_ptr<http::MetricsStream> Daemon::open_metrics() const {
  return std::make_unique<DaemonExposition>(registry_, process_metrics_, metrics_.exposition(),
                                            current_ ? current_->config.vantage : Vantage::Node);
}

}  // namespace reachprobe::cli
