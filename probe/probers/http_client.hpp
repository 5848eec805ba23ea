#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "probe/core/deadline.hpp"
#include "probe/core/probe_result.hpp"
#include "probe/core/target.hpp"
#include "probe/core/url.hpp"
#include "probe/dns/resolver.hpp"
#include "probe/probers/http_response.hpp"
#include "probe/probers/tls_handshake.hpp"

namespace reachprobe {

using HttpRequest = boost::beast::http::request<boost::beast::http::empty_body>;

// A request as reachprobe sends it: HTTP/1.1, Host, User-Agent, Connection: close, the
// bearer token if any, then `headers` (which may override any of those).
HttpRequest make_request(boost::beast::http::verb method, const Url& url, const std::string& token,
                         const std::vector<std::pair<std::string, std::string>>& headers = {});

// One HTTP/1.1 exchange over a new connection, as the probes that speak HTTP need it:
// resolve and connect (dns, connect phases), TLS for https (tls phase), the request, the
// response (first_byte phase, then the header and up to kResponseBodyLimit of body). On
// failure `result` holds the outcome and nullopt is returned.
class HttpClient {
 public:
  explicit HttpClient(std::shared_ptr<dns::Resolver> resolver) : resolver_(std::move(resolver)) {}
  boost::asio::awaitable<std::optional<HttpResponseSummary>> exchange(const Url& url,
                                                                      const HttpRequest& message,
                                                                      const TlsOptions& tls,
                                                                      Deadline deadline,
                                                                      ProbeResult& result);

 private:
  std::shared_ptr<dns::Resolver> resolver_;
  TlsContexts contexts_;
};

}  // namespace reachprobe
