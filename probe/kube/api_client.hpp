#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "probe/core/deadline.hpp"
#include "probe/core/token_file.hpp"
#include "probe/dns/resolver.hpp"
#include "probe/probers/kubernetes.hpp"
#include "probe/probers/tls_handshake.hpp"

namespace reachprobe::kube {

// Why a list or watch failed: the closed `reason` vocabulary of
// reachprobe_discovery_errors_total.
enum class ErrorReason {
  Connect,       // no connection, TLS, no response header in time
  Unauthorized,  // 401 (or no token to send)
  Forbidden,     // 403
  NotFound,      // 404
  Http,          // another non-2xx (410 aside)
  Gone,          // 410, or an ERROR event with code 410: the resourceVersion is too old
  Malformed,     // not JSON, or not the object asked for
  TooLarge,      // an object or event over kMaxObjectBytes
  Stream,        // a body cut mid-event, stalled inside an event, or an ERROR event
};
inline constexpr std::array kAllErrorReasons = {
    ErrorReason::Connect,   ErrorReason::Unauthorized, ErrorReason::Forbidden,
    ErrorReason::NotFound,  ErrorReason::Http,         ErrorReason::Gone,
    ErrorReason::Malformed, ErrorReason::TooLarge,     ErrorReason::Stream};
std::string_view to_string(ErrorReason reason);

struct ApiFailure {
  ErrorReason reason = ErrorReason::Connect;
  std::string message;
};

// Stops an exchange in progress from outside (a source removed, shutdown): its pending
// read or connect completes at once.
class Cancellation {
 public:
  void cancel() {
    cancelled_ = true;
    if (on_cancel_) on_cancel_();
  }
  bool cancelled() const { return cancelled_; }

 private:
  friend class ApiClient;
  bool cancelled_ = false;
  std::function<void()> on_cancel_;
};

struct ExchangeLimits {
  Duration connect_timeout{};  // connect, TLS, request and response header
  // Between two body reads; `idle_timeout()` may tighten it as the body goes on (a watch is
  // silent between events, never inside one).
  std::function<Duration()> idle_timeout;
  Duration lifetime{};  // the whole exchange; ending there is no error (see ended_by_lifetime)
};

struct ApiResponse {
  int status = 0;                     // 0: no response; `failure` says why
  std::optional<ApiFailure> failure;  // no response, or the body broke off
  std::string error_body;             // non-2xx: the first 64 KiB of the body (a Status)
  bool ended_by_lifetime = false;     // 2xx body still open when the lifetime ran out
  bool cancelled = false;
};

// GETs on the API server for discovery: the token re-read when it rotates, the CA of the
// `kubernetes` section, the body of a 2xx answer handed to `on_body` as it arrives (chunked
// watch streams included), so that nothing bounds what it may hold but the consumer.
class ApiClient {
 public:
  ApiClient(std::shared_ptr<dns::Resolver> resolver, KubernetesApi api);
  const KubernetesApi& api() const { return api_; }

  // `on_body` returns false to stop reading (it found an error of its own).
  boost::asio::awaitable<ApiResponse> get(std::string path, ExchangeLimits limits,
                                          std::function<bool(std::string_view)> on_body,
                                          std::shared_ptr<Cancellation> cancellation);

 private:
  template <typename Stream>
  boost::asio::awaitable<ApiResponse> converse(Stream& stream, boost::asio::ip::tcp::socket& socket,
                                               const std::string& path, const std::string& token,
                                               const ExchangeLimits& limits,
                                               const std::function<bool(std::string_view)>& on_body,
                                               Cancellation& cancellation);

  std::shared_ptr<dns::Resolver> resolver_;
  KubernetesApi api_;
  TokenFiles tokens_;
  TlsContexts contexts_;
};

}  // namespace reachprobe::kube
