#pragma once

#include <memory>
#include <optional>
#include <string>

#include "probe/core/token_file.hpp"
#include "probe/core/url.hpp"
#include "probe/dns/resolver.hpp"
#include "probe/probers/http_client.hpp"
#include "probe/probers/http_response.hpp"
#include "probe/probers/prober.hpp"
#include "probe/probers/tls_handshake.hpp"

namespace reachprobe {

// `type: http`: one HTTP/1.1 request (GET or HEAD), over TLS for https, with the configured
// headers and bearer token; phases dns, connect, tls, first_byte (request written -> first
// response byte), total. Redirects are answers unless follow_redirects is set.
class HttpProber final : public Prober {
 public:
  explicit HttpProber(std::shared_ptr<dns::Resolver> resolver);
  boost::asio::awaitable<ProbeResult> probe(const Endpoint& endpoint, Deadline deadline) override;

 private:
  // The request and its redirects; `result` holds the outcome.
  boost::asio::awaitable<void> request(const Target& target, Deadline deadline,
                                       ProbeResult& result);

  HttpClient client_;
  TokenFiles tokens_;
};

}  // namespace reachprobe
