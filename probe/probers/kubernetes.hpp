#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "probe/core/deadline.hpp"
#include "probe/core/probe_result.hpp"
#include "probe/core/token_file.hpp"
#include "probe/probers/http_client.hpp"

namespace reachprobe {

// How probes that start at the control plane reach the API server: in-cluster defaults,
// filled by the CLI from the config's `kubernetes` section.
struct KubernetesApi {
  std::string api_server;  // https://host[:port]
  std::string token_file;
  std::string ca_file;
  std::string namespace_name;
  std::string pod_name;
  bool operator==(const KubernetesApi&) const = default;
};

// The parts of a Kubernetes Status object (the body of an API error) a probe explains.
struct ApiStatus {
  int code = 0;
  std::string reason;   // "ServiceUnavailable", "Forbidden", ...
  std::string message;  // e.g. "error trying to reach service: dial tcp 10.0.1.5:9443: i/o timeout"
};
std::optional<ApiStatus> parse_api_status(std::string_view body);

// The result a Go dial error (as the API server relays it) stands for: "i/o timeout" and
// "context deadline exceeded" timeout, "connection refused" refused, "no route to host" /
// "network is unreachable" unreachable, "connection reset" reset; nullopt if the text holds
// no dial error.
std::optional<Outcome> classify_dial_error(std::string_view message);

// What an error the API server relays means beyond a dial error, as Go and EKS word it:
// "Address is not allowed" (the control plane may not dial into the pod network),
// "request canceled while waiting for connection" (no connection: dropped), "request
// canceled (Client.Timeout exceeded while awaiting headers)" (connected, no answer),
// "context deadline exceeded" (either: newer Go says this for both). nullopt if none.
struct ProxyError {
  Outcome outcome = Outcome::Error;
  Finding finding = Finding::None;
  std::string_view meaning;  // for the message: what happened, where the fix lies
};
std::optional<ProxyError> classify_proxy_error(std::string_view message);

// GETs on the API server with the pod's service-account token, verified with its CA.
class KubernetesClient {
 public:
  KubernetesClient(std::shared_ptr<dns::Resolver> resolver, KubernetesApi api);
  // `path` starts with "/api/...". On failure to get any response, `result` says why.
  boost::asio::awaitable<std::optional<HttpResponseSummary>> get(const std::string& path,
                                                                 Deadline deadline,
                                                                 ProbeResult& result);
  const KubernetesApi& api() const { return api_; }

 private:
  HttpClient http_;
  TokenFiles tokens_;
  KubernetesApi api_;
};

// How an API server answer that is not the probe's success reads: 401/403 name the token
// and the missing RBAC permission (`resource`, e.g. "pods/proxy"), a Status with a dial
// error gives that error's result; anything else is `error`. `what` names the path probed.
void explain_api_failure(const HttpResponseSummary& response, const KubernetesApi& api,
                         std::string_view resource, std::string_view what, ProbeResult& result);

}  // namespace reachprobe
