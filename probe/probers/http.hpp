#pragma once

#include <memory>
#include <optional>
#include <string>

#include "probe/core/url.hpp"
#include "probe/dns/resolver.hpp"
#include "probe/probers/prober.hpp"
#include "probe/probers/tls_handshake.hpp"
#include "probe/probers/token_file.hpp"

namespace reachprobe {

// What the http prober keeps of a response: enough to judge it and to explain a failure.
struct HttpResponseSummary {
  int status = 0;
  std::string reason;
  std::string location;      // of a redirect
  std::string body_excerpt;  // the first bytes of the body, printable, one line
};

// Whether `status` is what the target expects: `expect_status`, or any 2xx without one.
bool status_expected(int status, const std::vector<int>& expect_status);

// The probe's message for a response, e.g. "HTTP 503 Service Unavailable from URL, expected
// 2xx: {...}"; ok responses get "HTTP 200 OK".
std::string describe_response(const HttpResponseSummary& response, const std::string& url,
                              const std::vector<int>& expect_status, bool redirect_not_followed);

// Up to `limit` bytes of `body` as one printable line: control bytes and invalid UTF-8
// become '?', runs of whitespace one space. Bodies come from the network: anything goes in.
std::string body_excerpt(std::string_view body, std::size_t limit);

// `type: http`: one HTTP/1.1 request (GET or HEAD), over TLS for https, with the configured
// headers and bearer token; phases dns, connect, tls, first_byte (request written -> first
// response byte), total. Redirects are answers unless follow_redirects is set.
class HttpProber final : public Prober {
 public:
  explicit HttpProber(std::shared_ptr<dns::Resolver> resolver);
  boost::asio::awaitable<ProbeResult> probe(const Endpoint& endpoint, Deadline deadline) override;

 private:
  struct Request;
  boost::asio::awaitable<std::optional<HttpResponseSummary>> exchange(const Request& request,
                                                                      Deadline deadline,
                                                                      ProbeResult& result);

  std::shared_ptr<dns::Resolver> resolver_;
  TlsContexts contexts_;
  TokenFiles tokens_;
};

}  // namespace reachprobe
