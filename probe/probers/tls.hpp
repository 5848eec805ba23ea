#pragma once

#include <memory>

#include "probe/dns/resolver.hpp"
#include "probe/probers/prober.hpp"
#include "probe/probers/tls_handshake.hpp"

namespace reachprobe {

// `type: tls`: resolve, connect, TLS handshake (SNI, verification, TLS 1.2 at least), close.
// Success means a certificate chain this node trusts, for the expected name, was presented.
class TlsProber final : public Prober {
 public:
  explicit TlsProber(std::shared_ptr<dns::Resolver> resolver) : resolver_(std::move(resolver)) {}
  boost::asio::awaitable<ProbeResult> probe(const Endpoint& endpoint, Deadline deadline) override;

 private:
  std::shared_ptr<dns::Resolver> resolver_;
  TlsContexts contexts_;
};

}  // namespace reachprobe
