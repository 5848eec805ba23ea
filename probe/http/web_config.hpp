#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace reachprobe::http {

// Who may read /metrics and over what, in the format of Prometheus' web config file
// (`--web.config.file`, the exporter-toolkit), plus a bearer token for scrapers that send
// one: on host networking the endpoint is reachable from everything that reaches the node.
// /healthz and /readyz stay open, so the kubelet's probes need no credentials.
struct WebTlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // with client_auth_type, for mutual TLS
  enum class ClientAuth { None, VerifyIfGiven, Require } client_auth = ClientAuth::None;
  bool tls13_only = false;  // min_version: TLS13 (default TLS12)
};

struct WebConfig {
  std::optional<WebTlsConfig> tls;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt hash
  std::string bearer_token_file;
  bool requires_auth() const { return !basic_auth_users.empty() || !bearer_token_file.empty(); }
};

struct WebConfigLoad {
  std::optional<WebConfig> config;
  std::vector<std::string> errors;  // "PATH:LINE:COLUMN: message", all of them
};

// Reads and checks the file: unknown keys, a certificate without its key, hashes that are
// not bcrypt, files that cannot be read. Never throws.
WebConfigLoad load_web_config(const std::string& path);

}  // namespace reachprobe::http
