#include "probe/http/web_config.hpp"

#include <fmt/format.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace reachprobe::http {

namespace {

class Loader {
 public:
  explicit Loader(std::string path) : path_(std::move(path)) {}

  WebConfigLoad load() {
    WebConfigLoad out;
    std::ifstream in(path_, std::ios::binary);
    if (!in) {
      out.errors.push_back(fmt::format("{}:0:0: cannot read the web config file", path_));
      return out;
    }
    std::stringstream text;
    text << in.rdbuf();
    YAML::Node root;
    try {
      root = YAML::Load(text.str());
    } catch (const YAML::Exception& e) {
      fail(e.mark, "YAML syntax error: " + e.msg);
      out.errors = std::move(errors_);
      return out;
    }
    WebConfig config;
    if (root.IsMap()) {
      for (const auto& entry : root) {
        const std::string key = entry.first.as<std::string>("");
        if (key == "tls_server_config") {
          config.tls = tls(entry.second);
        } else if (key == "basic_auth_users") {
          basic_auth(entry.second, config);
        } else if (key == "bearer_token_file") {
          config.bearer_token_file = readable_file(entry.second, key);
        } else if (key == "http_server_config") {
          // exporter-toolkit's HTTP/2 and header options: HTTP/1.1 only here, so refuse
          // rather than pretend.
          fail(entry.first.Mark(), "'http_server_config' is not supported by reachprobe");
        } else {
          fail(entry.first.Mark(), fmt::format("unknown key '{}' (known: tls_server_config, "
                                               "basic_auth_users, bearer_token_file)",
                                               key));
        }
      }
    } else if (!root.IsNull()) {
      fail(root.Mark(), "the web config must be a map");
    }
    out.errors = std::move(errors_);
    if (out.errors.empty()) out.config = std::move(config);
    return out;
  }

 private:
  void fail(const YAML::Mark& mark, const std::string& message) {
    errors_.push_back(fmt::format("{}:{}:{}: {}", path_, mark.line + 1, mark.column + 1, message));
  }

  std::string text(const YAML::Node& node, const std::string& key) {
    if (!node.IsScalar() || node.Scalar().empty()) {
      fail(node.Mark(), fmt::format("'{}' must be a non-empty string", key));
      return {};
    }
    return node.Scalar();
  }

  std::string readable_file(const YAML::Node& node, const std::string& key) {
    std::string path = text(node, key);
    if (!path.empty() && ::access(path.c_str(), R_OK) != 0) {
      fail(node.Mark(), fmt::format("'{}': cannot read {}", key, path));
    }
    return path;
  }

  std::optional<WebTlsConfig> tls(const YAML::Node& node) {
    if (!node.IsMap()) {
      fail(node.Mark(), "'tls_server_config' must be a map");
      return std::nullopt;
    }
    WebTlsConfig tls;
    for (const auto& entry : node) {
      const std::string key = entry.first.as<std::string>("");
      if (key == "cert_file") {
        tls.cert_file = readable_file(entry.second, key);
      } else if (key == "key_file") {
        tls.key_file = readable_file(entry.second, key);
      } else if (key == "client_ca_file") {
        tls.client_ca_file = readable_file(entry.second, key);
      } else if (key == "client_auth_type") {
        const std::string value = text(entry.second, key);
        if (value == "NoClientCert") {
          tls.client_auth = WebTlsConfig::ClientAuth::None;
        } else if (value == "VerifyClientCertIfGiven") {
          tls.client_auth = WebTlsConfig::ClientAuth::VerifyIfGiven;
        } else if (value == "RequireAndVerifyClientCert") {
          tls.client_auth = WebTlsConfig::ClientAuth::Require;
        } else if (!value.empty()) {
          fail(entry.second.Mark(),
               fmt::format("'client_auth_type' must be NoClientCert, VerifyClientCertIfGiven or "
                           "RequireAndVerifyClientCert, not '{}'",
                           value));
        }
      } else if (key == "min_version") {
        const std::string value = text(entry.second, key);
        if (value == "TLS13") {
          tls.tls13_only = true;
        } else if (value != "TLS12" && !value.empty()) {
          fail(entry.second.Mark(),
               fmt::format("'min_version' must be TLS12 or TLS13, not '{}'", value));
        }
      } else {
        fail(entry.first.Mark(),
             fmt::format("unknown key '{}' in 'tls_server_config' (known: cert_file, key_file, "
                         "client_ca_file, client_auth_type, min_version)",
                         key));
      }
    }
    if (tls.cert_file.empty() || tls.key_file.empty()) {
      fail(node.Mark(), "'tls_server_config' needs both 'cert_file' and 'key_file'");
    }
    if (tls.client_auth != WebTlsConfig::ClientAuth::None && tls.client_ca_file.empty()) {
      fail(node.Mark(), "'client_auth_type' needs 'client_ca_file' to verify clients against");
    }
    return tls;
  }

  void basic_auth(const YAML::Node& node, WebConfig& config) {
    if (!node.IsMap()) {
      fail(node.Mark(), "'basic_auth_users' must be a map of user name to bcrypt hash");
      return;
    }
    for (const auto& entry : node) {
      const std::string user = entry.first.as<std::string>("");
      const std::string hash = text(entry.second, "basic_auth_users." + user);
      if (user.empty() || user.find(':') != std::string::npos) {
        fail(entry.first.Mark(), "a user name must be non-empty and without ':'");
        continue;
      }
      const bool bcrypt =
          hash.size() == 60 &&
          (hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$"));
      if (!hash.empty() && !bcrypt) {
        fail(entry.second.Mark(),
             fmt::format("the password of '{}' must be a bcrypt hash ($2y$...), e.g. from "
                         "`htpasswd -nbBC 10 '' PASSWORD | tr -d ':\\n'`",
                         user));
        continue;
      }
      config.basic_auth_users[user] = hash;
    }
  }

  std::string path_;
  std::vector<std::string> errors_;
};

}  // namespace

WebConfigLoad load_web_config(const std::string& path) {
  try {
    return Loader(path).load();
  } catch (const std::exception& e) {
    // yaml-cpp conversions of odd nodes: reported, not thrown through.
    WebConfigLoad out;
    out.errors.push_back(fmt::format("{}:0:0: {}", path, e.what()));
    return out;
  }
}

}  // namespace reachprobe::http
