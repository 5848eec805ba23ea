#include "probe/config/kubeconfig.hpp"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "probe/core/url.hpp"

namespace reachprobe::config {

namespace {

// A kubelet kubeconfig is a few hundred bytes; a client certificate inline makes it a few KB.
constexpr std::size_t kMaxKubeconfigBytes = 1u << 20;

std::string scalar(const YAML::Node& node) {
  return node && node.IsScalar() ? node.Scalar() : std::string();
}

// The named entry of a kubeconfig list (clusters, contexts), or an invalid node.
YAML::Node named(const YAML::Node& list, const std::string& name) {
  if (!list || !list.IsSequence()) return YAML::Node(YAML::NodeType::Undefined);
  for (const auto& item : list) {
    if (item.IsMap() && scalar(item["name"]) == name) return item;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::variant<KubeconfigServer, std::string> server_of(const std::string& path,
                                                      const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return path + " is not a kubeconfig (YAML: " + e.msg + ")";
  }
  if (!root.IsMap()) return path + " is not a kubeconfig (no map at the top)";
  const YAML::Node clusters = root["clusters"];
  if (!clusters || !clusters.IsSequence() || clusters.size() == 0) {
    return path + " has no clusters, so no server";
  }
  YAML::Node cluster;
  const std::string current = scalar(root["current-context"]);
  if (!current.empty()) {
    const YAML::Node context = named(root["contexts"], current);
    if (!context || !context["context"] || !context["context"].IsMap()) {
      return path + ": current-context '" + current + "' is not among its contexts";
    }
    const std::string cluster_name = scalar(context["context"]["cluster"]);
    cluster = named(clusters, cluster_name);
    if (!cluster) {
      return path + ": context '" + current + "' names cluster '" + cluster_name +
             "', which is not among its clusters";
    }
  } else if (clusters.size() == 1) {
    cluster = clusters[0];
  } else {
    return path + " has " + std::to_string(clusters.size()) +
           " clusters and no current-context: which server is meant is not known";
  }
  const std::string server = cluster.IsMap() && cluster["cluster"] && cluster["cluster"].IsMap()
                                 ? scalar(cluster["cluster"]["server"])
                                 : std::string();
  if (server.empty()) return path + ": its cluster has no server";
  auto url = parse_url(server);
  if (auto* problem = std::get_if<std::string>(&url)) {
    return path + ": server '" + server + "' is not a URL: " + *problem;
  }
  const Url& u = std::get<Url>(url);
  if (!u.https) return path + ": server '" + server + "' is not https://";
  return KubeconfigServer{path, server, u.host, u.port};
}

}  // namespace

std::variant<KubeconfigServer, std::string> read_kubeconfig_server(
    const std::vector<std::string>& paths) {
  std::string missing;
  for (const auto& path : paths) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      missing += (missing.empty() ? "" : ", ") + path;
      continue;
    }
    if (std::filesystem::is_directory(path, ec)) {
      return path +
             " is a directory, not a kubeconfig (a hostPath mount of a file that did "
             "not exist on the node creates one)";
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return "cannot read " + path + ": " + std::strerror(errno);
    std::string text;
    text.resize(kMaxKubeconfigBytes + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (in.bad()) return "cannot read " + path + ": " + std::strerror(errno);
    if (text.size() > kMaxKubeconfigBytes) return path + " is larger than 1 MiB: no kubeconfig";
    if (text.empty()) return path + " is empty (0 bytes), so no server";
    return server_of(path, text);
  }
  return (paths.size() == 1 ? "no file " : "none of these files exists: ") + missing +
         " (the node's kubelet kubeconfig, mounted read-only from the host)";
}

}  // namespace reachprobe::config
