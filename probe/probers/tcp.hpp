#pragma once

#include "probe/dns/resolver.hpp"
#include "probe/probers/prober.hpp"

namespace reachprobe {

// `type: tcp`: resolve, connect, close. Success means the SYN was answered with SYN-ACK.
class TcpProber final : public Prober {
 public:
  explicit TcpProber(dns::Resolver& resolver) : resolver_(resolver) {}
  boost::asio::awaitable<ProbeResult> probe(const Endpoint& endpoint, Deadline deadline) override;

 private:
  dns::Resolver& resolver_;
};

}  // namespace reachprobe
