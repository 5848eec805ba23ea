#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace reachprobe::config {

// The API server a kubeconfig points at: its `server:` URL, host and port.
struct KubeconfigServer {
  std::string path;  // the file it came from
  std::string url;
  std::string host;  // a name (the cluster endpoint, e.g. ABCD.gr7.REGION.eks.amazonaws.com)
  std::uint16_t port = 443;
};

// The server of the first of `paths` that exists (the kubelet's kubeconfig is
// /var/lib/kubelet/kubeconfig on EKS AL2, /etc/kubernetes/kubelet/kubeconfig on AL2023):
// the cluster of the current context, or the only cluster when there is no current context.
// Otherwise a message saying why not (no file, unreadable, not YAML, no server, not an
// https URL), never an exception.
std::variant<KubeconfigServer, std::string> read_kubeconfig_server(
    const std::vector<std::string>& paths);

}  // namespace reachprobe::config
