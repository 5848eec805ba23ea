#include <fmt/format.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <iostream>
#include <memory>
#include <set>

#include "probe/check/check.hpp"
#include "probe/cli/cli.hpp"
#include "probe/config/config.hpp"
#include "probe/core/node_name.hpp"
#include "probe/dns/resolver.hpp"
#include "probe/engine/scheduler.hpp"
#include "probe/http/server.hpp"
#include "probe/sinks/log_sink.hpp"
#include "probe/sinks/metrics_sink.hpp"
#include "probe/sinks/process_collector.hpp"
#include "reachprobe/embedded_config.hpp"
#include "reachprobe/version.hpp"

namespace reachprobe::cli {

namespace asio = boost::asio;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

struct LoadedConfig {
  config::Config config;
  std::vector<std::shared_ptr<const Target>> targets;
};

// Loads and validates, then checks what only the engine knows: that this build has a
// prober for every type used. Problems go to stderr as PATH:LINE:COLUMN: message.
std::optional<LoadedConfig> load(const Options& options, bool check_support) {
  config::LoadResult loaded =
      options.config_path.empty()
          ? config::load_config_string(kEmbeddedLocalConfig, "<built-in config/local.yaml>")
          : config::load_config_file(options.config_path);
  std::vector<config::ConfigError> errors = std::move(loaded.errors);
  if (loaded.config && check_support) {
    for (const auto& t : loaded.config->targets) {
      if (!is_supported(t.type)) {
        errors.push_back({t.position.path, t.position.line, t.position.column,
                          fmt::format("target '{}': type {} is not supported by this build yet",
                                      t.name, to_string(t.type))});
      }
    }
  }
  if (!errors.empty() || !loaded.config) {
    for (const auto& e : errors) std::cerr << e.to_string() << "\n";
    return std::nullopt;
  }
  LoadedConfig out;
  out.config = std::move(*loaded.config);
  for (const auto& t : out.config.targets) out.targets.push_back(std::make_shared<Target>(t));
  return out;
}

dns::ResolverOptions resolver_options(const config::Config& c) {
  dns::ResolverOptions o;
  o.servers = c.dns.servers;
  // c-ares 1.18 ignores resolv.conf's timeout/attempts and waits 5 s per try: a lost UDP
  // reply would then never be retried inside a probe's deadline. First retry after a third
  // of the shortest timeout (c-ares doubles the wait each round); the deadline bounds all.
  auto shortest = c.timeout;
  for (const auto& t : c.targets) shortest = std::min(shortest, t.timeout);
  auto third = std::chrono::duration_cast<std::chrono::milliseconds>(shortest / 3);
  o.attempt_timeout =
      std::clamp(third, std::chrono::milliseconds(200), std::chrono::milliseconds(2000));
  o.attempts = 3;
  return o;
}

int validate(const Options& options) {
  // Every type is known to the validator; support in this build is checked by run/check.
  auto loaded = load(options, false);
  if (!loaded) return kExitUsage;
  std::cout << "ok\n";
  return kExitOk;
}

int check(const Options& options) {
  log::setup(options.log_level, options.log_format);
  asio::io_context io(1);
  auto loaded = load(options, true);
  if (!loaded) return kExitUsage;

  std::vector<std::shared_ptr<const Target>> selected;
  if (options.targets.empty()) {
    selected = loaded->targets;
  } else {
    for (const auto& name : options.targets) {
      auto it = std::find_if(loaded->targets.begin(), loaded->targets.end(),
                             [&](const auto& t) { return t->name == name; });
      if (it == loaded->targets.end()) {
        std::cerr << fmt::format("{}: no target named '{}'\n", options.config_path, name);
        return kExitUsage;
      }
      selected.push_back(*it);
    }
  }

  const dns::ResolverOptions dns_settings = resolver_options(loaded->config);
  std::unique_ptr<dns::Resolver> resolver;
  try {
    resolver = std::make_unique<dns::Resolver>(io, dns_settings);
  } catch (const std::exception& e) {
    std::cerr << options.config_path << ": dns: " << e.what() << "\n";
    return kExitUsage;
  }
  ProberSet probers = make_probers({*resolver, io, dns_settings, this_node_name()});
  auto rows = run_check(io, probers, expand_endpoints(selected));
  std::cout << (options.json ? format_check_json(rows) : format_check_table(rows));
  const bool all_ok =
      std::all_of(rows.begin(), rows.end(), [](const CheckRow& r) { return r.result.ok(); });
  return all_ok ? kExitOk : kExitFailed;
}

int run(const Options& options) {
  log::setup(options.log_level, options.log_format);
  if (options.config_path.empty()) {
    log::event(spdlog::level::warn,
               "no --config given: probing the built-in config/local.yaml (loopback only)");
  }
  asio::io_context io(1);
  auto loaded = load(options, true);
  if (!loaded) return kExitUsage;
  if (!options.listen.empty()) {
    if (auto problem = config::listen_address_problem(options.listen)) {
      std::cerr << "reachprobe: --listen " << options.listen << ": " << *problem << "\n";
      return kExitUsage;
    }
  }
  const std::string listen = options.listen.empty() ? loaded->config.listen : options.listen;

  const dns::ResolverOptions dns_settings = resolver_options(loaded->config);
  std::unique_ptr<dns::Resolver> resolver;
  try {
    resolver = std::make_unique<dns::Resolver>(io, dns_settings);
  } catch (const std::exception& e) {
    std::cerr << options.config_path << ": dns: " << e.what() << "\n";
    return kExitUsage;
  }
  ProberSet probers = make_probers({*resolver, io, dns_settings, this_node_name()});

  auto registry = std::make_shared<prometheus::Registry>();
  MetricsSink metrics(*registry);
  DaemonMetrics daemon_metrics(*registry);
  auto process_metrics = std::make_shared<ProcessCollector>();
  StateChangeLogSink log_sink;
  FanOutSink sinks({&metrics, &log_sink});
  Scheduler scheduler(io, probers, sinks);

  std::unique_ptr<http::Server> server;
  try {
    http::Handlers handlers;
    handlers.render_metrics = [registry, process_metrics] {
      auto families = registry->Collect();
      auto process = process_metrics->Collect();
      families.insert(families.end(), process.begin(), process.end());
      return prometheus::TextSerializer().Serialize(families);
    };
    handlers.ready = [&scheduler] { return scheduler.all_probed_once(); };
    http::ServerOptions server_options;
    server_options.listen = listen;
    server = std::make_unique<http::Server>(io, server_options, std::move(handlers));
  } catch (const std::exception& e) {
    log::event(spdlog::level::err, "cannot start the HTTP server", {{"error", e.what()}});
    return kExitFailed;
  }

  daemon_metrics.config_loaded(true);
  scheduler.update(expand_endpoints(loaded->targets));
  log::event(spdlog::level::info, "reachprobe started",
             {{"version", kVersion},
              {"listen", server->local_endpoint().address().to_string() + ":" +
                             std::to_string(server->local_endpoint().port())},
              {"targets", std::to_string(loaded->targets.size())},
              {"endpoints", std::to_string(scheduler.endpoint_count())}});

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    log::event(spdlog::level::info, "shutting down", {{"signal", strsignal(signal)}});
    scheduler.stop();
    server->stop();
    // Probes in flight are abandoned: their sockets close when the io_context is destroyed.
    io.stop();
  });
  io.run();
  log::event(spdlog::level::info, "stopped");
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = parse_args(args);
  if (!parsed.options) {
    std::cerr << "reachprobe: " << parsed.error << "\n\n" << usage();
    return kExitUsage;
  }
  const Options& options = *parsed.options;
  try {
    switch (options.command) {
      case Command::Version:
        std::cout << "reachprobe " << kVersion << "\n";
        return kExitOk;
      case Command::Help:
        std::cout << usage();
        return kExitOk;
      case Command::Validate:
        return validate(options);
      case Command::Check:
        return check(options);
      case Command::Run:
        return run(options);
    }
  } catch (const std::exception& e) {
    std::cerr << "reachprobe: fatal: " << e.what() << "\n";
    return kExitUsage;
  }
  return kExitUsage;
}

}  // namespace reachprobe::cli
