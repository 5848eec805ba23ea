#include "probe/probers/kubernetes.hpp"

#include <fmt/format.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <sstream>

namespace reachprobe {

namespace {

bool has(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace

std::optional<ApiStatus> parse_api_status(std::string_view body) {
  if (body.empty() || body.size() > kResponseBodyLimit) return std::nullopt;
  try {
    boost::property_tree::ptree tree;
    std::istringstream in{std::string(body)};
    boost::property_tree::read_json(in, tree);
    if (tree.get<std::string>("kind", "") != "Status") return std::nullopt;
    ApiStatus status;
    status.code = tree.get<int>("code", 0);
    status.reason = tree.get<std::string>("reason", "");
    status.message = tree.get<std::string>("message", "");
    return status;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<Outcome> classify_dial_error(std::string_view message) {
  if (!has(message, "dial tcp")) return std::nullopt;
  if (has(message, "i/o timeout") || has(message, "deadline exceeded")) return Outcome::Timeout;
  if (has(message, "connection refused")) return Outcome::Refused;
  if (has(message, "no route to host") || has(message, "network is unreachable") ||
      has(message, "host is unreachable")) {
    return Outcome::Unreachable;
  }
  if (has(message, "connection reset")) return Outcome::Reset;
  return Outcome::Error;
}

std::optional<ProxyError> classify_proxy_error(std::string_view message) {
  if (has(message, "Address is not allowed")) {
    return ProxyError{Outcome::Unreachable, Finding::ControlPlaneCannotRoute,
                      "the API server may not connect to that address (\"Address is not "
                      "allowed\"): the control plane has no route into the pod network, as with "
                      "an overlay CNI (Calico, Cilium in overlay mode) on EKS; no security-group "
                      "rule changes that: the listener must be on the node's network "
                      "(hostNetwork: true)"};
  }
  if (auto dial = classify_dial_error(message)) {
    return ProxyError{*dial, Finding::None, {}};
  }
  if (has(message, "while waiting for connection")) {
    return ProxyError{Outcome::Timeout, Finding::None,
                      "the API server's connection was never set up within its timeout: "
                      "packets dropped on the way (a security group or NACL)"};
  }
  if (has(message, "request canceled (Client.Timeout exceeded while awaiting headers)") ||
      has(message, "timeout awaiting response headers")) {
    return ProxyError{Outcome::Timeout, Finding::NoResponseHeaders,
                      "the API server connected but got no response headers in time: the path "
                      "is open, whatever holds the port accepted the connection and did not "
                      "answer"};
  }
  if (has(message, "context deadline exceeded") || has(message, "Client.Timeout exceeded")) {
    return ProxyError{Outcome::Timeout, Finding::None,
                      "the API server gave up waiting: either its connection was never set up "
                      "(packets dropped: a security group or NACL, the usual cause) or the "
                      "server accepted it and did not answer in time"};
  }
  return std::nullopt;
}

KubernetesClient::KubernetesClient(std::shared_ptr<dns::Resolver> resolver, KubernetesApi api)
    : http_(std::move(resolver)), api_(std::move(api)) {}

boost::asio::awaitable<std::optional<HttpResponseSummary>> KubernetesClient::get(
    const std::string& path, Deadline deadline, ProbeResult& result) {
  auto base = parse_url(api_.api_server);
  if (auto* problem = std::get_if<std::string>(&base)) {
    result.outcome = Outcome::Error;
    result.message = "kubernetes.api_server: " + *problem;
    co_return std::nullopt;
  }
  Url url = std::get<Url>(base);
  url.target = path;
  auto token = tokens_.read(api_.token_file);
  if (!token.problem.empty()) {
    result.outcome = Outcome::Error;
    result.message = token.problem + " (kubernetes.token_file: the pod's service-account token)";
    co_return std::nullopt;
  }
  const auto message = make_request(boost::beast::http::verb::get, url, token.token,
                                    {{"Accept", "application/json, */*"}});
  // A named local, not a temporary in the co_await: GCC 12 destroys such temporaries twice.
  const TlsOptions tls{"", api_.ca_file, false};
  co_return co_await http_.exchange(url, message, tls, deadline, result);
}

void explain_api_failure(const HttpResponseSummary& response, const KubernetesApi& api,
                         std::string_view resource, std::string_view what, ProbeResult& result) {
  const auto status = parse_api_status(response.body);
  const std::string said = status ? body_excerpt(status->message, 300) : response.body_excerpt;
  if (response.status == 401) {
    result.outcome = Outcome::Error;
    result.message = fmt::format(
        "the API server refused the service-account token (401 {}): check kubernetes.token_file",
        response.reason);
    return;
  }
  if (response.status == 403) {
    result.outcome = Outcome::Error;
    result.message = fmt::format(
        "forbidden (403): the service account needs RBAC `get` on `{}` in namespace {} (a Role "
        "and RoleBinding): {}",
        resource, api.namespace_name, said);
    return;
  }
  if (status) {
    if (auto proxy = classify_proxy_error(status->message)) {
      result.outcome = proxy->outcome;
      result.finding = proxy->finding;
      result.message =
          proxy->meaning.empty()
              ? fmt::format("the API server could not connect to {}: {}", what, said)
              : fmt::format("the API server could not get an answer from {}: {}; it said: {}", what,
                            proxy->meaning, said);
      return;
    }
    if (status->code == 404) {
      result.outcome = Outcome::Error;
      result.message = fmt::format(
          "the API server does not know pod {}/{} (404): check kubernetes.namespace and "
          "kubernetes.pod_name: {}",
          api.namespace_name, api.pod_name, said);
      return;
    }
  }
  result.outcome = Outcome::Error;
  result.message = fmt::format("unexpected answer from the API server for {}: HTTP {} {}: {}", what,
                               response.status, response.reason, said);
}

}  // namespace reachprobe
