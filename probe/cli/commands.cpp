#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <iostream>
#include <memory>

#include "probe/aws/imds.hpp"
#include "probe/check/check.hpp"
#include "probe/check/discover.hpp"
#include "probe/check/remediation.hpp"
#include "probe/cli/cli.hpp"
#include "probe/cli/daemon.hpp"
#include "probe/cli/loading.hpp"
#include "probe/config/config.hpp"
#include "probe/core/node_name.hpp"
#include "probe/core/url.hpp"
#include "reachprobe/version.hpp"

namespace reachprobe::cli {

namespace asio = boost::asio;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

// Prints every problem as PATH:LINE:COLUMN: message.
std::optional<LoadedConfig> load_or_report(const Options& options,
                                           const NodeFactsSource& facts = {}) {
  auto outcome = load_config(options.config_path, facts);
  for (const auto& e : outcome.errors) std::cerr << e.to_string() << "\n";
  return std::move(outcome.loaded);
}

int validate(const Options& options) {
  // Every type is known to the validator; support in this build is checked by run/check.
  // Its stdout is `ok` or nothing: what IMDS says goes to stderr.
  log::setup(spdlog::level::warn, log::Format::Text);
  asio::io_context io(1);
  std::optional<aws::NodeFacts> facts;
  auto loaded = load_or_report(options, [&]() -> const aws::NodeFacts* {
    if (!facts) facts = aws::read_node_facts(io);
    return &*facts;
  });
  if (!loaded) return kExitUsage;
  std::cout << "ok\n";
  return kExitOk;
}

int check(const Options& options) {
  log::setup(options.log_level, options.log_format);
  asio::io_context io(1);
  std::optional<aws::NodeFacts> facts;
  auto loaded = load_or_report(options, [&]() -> const aws::NodeFacts* {
    if (!facts) facts = aws::read_node_facts(io);
    return &*facts;
  });
  if (!loaded) return kExitUsage;
  const aws::NodeFacts* node =
      loaded->config.aws.imds && facts && !facts->empty() ? &*facts : nullptr;

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

  std::optional<ProberSet> probers;
  try {
    probers = make_probers(
        {io, resolver_options(loaded->config), this_node_name(), kubernetes_api(loaded->config)});
  } catch (const std::exception& e) {
    std::cerr << options.config_path << ": dns: " << e.what() << "\n";
    return kExitUsage;
  }
  // Discovered targets: one list per source, no watch; a failed list is a row of its own.
  auto discovered = discover_for_check(io, selected, kubernetes_api(loaded->config),
                                       resolver_options(loaded->config), this_node_name());
  auto rows = run_check(io, *probers, discovered.endpoints, node);
  std::move(discovered.failures.begin(), discovered.failures.end(), std::back_inserter(rows));
  const auto api_server = parse_url(loaded->config.kubernetes.api_server);
  const auto plan = plan_remediation(
      rows, node, std::holds_alternative<Url>(api_server) ? std::get<Url>(api_server).host : "");
  if (options.remediation == "terraform") {
    std::cout << render_terraform(plan);
  } else if (options.remediation == "aws-cli") {
    std::cout << render_aws_cli(plan);
  } else if (options.json) {
    std::cout << format_check_json(rows, "\"remediation\": " + render_remediation_json(plan) +
                                             ", " + format_not_probed_json(discovered.not_probed));
  } else {
    std::cout << format_check_table(rows) << format_not_probed_table(discovered.not_probed);
  }
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
  Daemon daemon(io, options);
  if (auto failed = daemon.start()) return *failed;
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
