#include <fmt/format.h>

#include "probe/cli/cli.hpp"

namespace reachprobe::cli {

std::string usage() {
  return R"(usage:
  reachprobe run [--config PATH] [--listen ADDR:PORT] [--web.config.file PATH]
                 [--log-level L] [--log-format F]
  reachprobe check --config PATH [--target NAME]... [--format table|json] [--log-level L]
                   [--remediation terraform|aws-cli]
  reachprobe validate --config PATH
  reachprobe --version

run       probe every target on its interval, serve /metrics, /healthz, /readyz
          (without --config: the built-in config/local.yaml, loopback only)
check     probe every (or each --target) endpoint once and print what to fix;
          exit 0 if all ok, 1 if any failed, 2 on a usage or config error
          --remediation: instead of the table, one Terraform or aws-cli snippet with the
          security-group rules that fix every failure a security group explains
validate  check a config; prints `ok` or every problem as PATH:LINE:COLUMN: message

--web.config.file  TLS and basic/bearer auth for /metrics, in the format of Prometheus'
                   web config file (tls_server_config, basic_auth_users) plus
                   bearer_token_file
--log-level debug|info|warn|error (default info)   --log-format text|json (default text)
)";
}

ParseResult parse_args(const std::vector<std::string>& args) {
  ParseResult r;
  Options o;
  if (args.empty()) {
    r.error = "missing command";
    return r;
  }
  const std::string& cmd = args[0];
  if (cmd == "run") {
    o.command = Command::Run;
  } else if (cmd == "check") {
    o.command = Command::Check;
  } else if (cmd == "validate") {
    o.command = Command::Validate;
  } else if (cmd == "--version" || cmd == "version") {
    o.command = Command::Version;
  } else if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    o.command = Command::Help;
  } else {
    r.error = fmt::format("unknown command '{}'", cmd);
    return r;
  }

  for (std::size_t i = 1; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    bool has_value = false;
    if (auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_value = true;
    }
    auto take = [&](std::string& out) -> bool {
      if (has_value) {
        out = value;
      } else if (i + 1 < args.size()) {
        out = args[++i];
      } else {
        r.error = fmt::format("{} needs a value", flag);
        return false;
      }
      if (out.empty()) {
        r.error = fmt::format("{} needs a non-empty value", flag);
        return false;
      }
      return true;
    };
    const bool is_run = o.command == Command::Run;
    const bool is_check = o.command == Command::Check;
    const bool takes_config = is_run || is_check || o.command == Command::Validate;
    std::string v;
    if (flag == "--config" && takes_config) {
      if (!take(o.config_path)) return r;
    } else if (flag == "--listen" && is_run) {
      if (!take(o.listen)) return r;
    } else if (flag == "--web.config.file" && is_run) {
      if (!take(o.web_config_path)) return r;
    } else if (flag == "--target" && is_check) {
      if (!take(v)) return r;
      o.targets.push_back(v);
    } else if (flag == "--format" && is_check) {
      if (!take(v)) return r;
      if (v != "table" && v != "json") {
        r.error = fmt::format("--format must be table or json, not '{}'", v);
        return r;
      }
      o.json = v == "json";
    } else if (flag == "--remediation" && is_check) {
      if (!take(v)) return r;
      if (v != "terraform" && v != "aws-cli") {
        r.error = fmt::format("--remediation must be terraform or aws-cli, not '{}'", v);
        return r;
      }
      o.remediation = v;
    } else if (flag == "--log-level" && (is_run || is_check)) {
      if (!take(v)) return r;
      auto level = log::parse_level(v);
      if (!level) {
        r.error = fmt::format("--log-level must be debug, info, warn or error, not '{}'", v);
        return r;
      }
      o.log_level = *level;
    } else if (flag == "--log-format" && (is_run || is_check)) {
      if (!take(v)) return r;
      auto format = log::parse_format(v);
      if (!format) {
        r.error = fmt::format("--log-format must be text or json, not '{}'", v);
        return r;
      }
      o.log_format = *format;
    } else if (flag == "--help" || flag == "-h") {
      o.command = Command::Help;
      r.options = o;
      return r;
    } else {
      r.error = fmt::format("unknown option '{}' for {}", args[i], cmd);
      return r;
    }
  }
  if ((o.command == Command::Check || o.command == Command::Validate) && o.config_path.empty()) {
    r.error = fmt::format("{} needs --config PATH", cmd);
    return r;
  }
  if (o.json && !o.remediation.empty()) {
    r.error =
        "--remediation prints a snippet, --format json a report (whose `remediation` "
        "member has the same rules): use one";
    return r;
  }
  r.options = o;
  return r;
}

}  // namespace reachprobe::cli
