#pragma once

#include <optional>
#include <string>
#include <vector>

#include "probe/log/logging.hpp"

namespace reachprobe::cli {

enum class Command { Run, Check, Validate, Version, Help };

struct Options {
  Command command = Command::Help;
  std::string config_path;      // empty for run: the embedded config/local.yaml
  std::string listen;           // --listen, overrides the config
  std::string web_config_path;  // --web.config.file: TLS and auth for /metrics
  std::vector<std::string> targets;
  bool json = false;        // check --format json
  std::string remediation;  // check --remediation terraform|aws-cli
  spdlog::level::level_enum log_level = spdlog::level::info;
  log::Format log_format = log::Format::Text;
};

struct ParseResult {
  std::optional<Options> options;
  std::string error;  // usage error, for stderr with exit status 2
};

ParseResult parse_args(const std::vector<std::string>& args);

std::string usage();

// The whole program: exit status per SPEC.md.
int main(int argc, char** argv);

}  // namespace reachprobe::cli
