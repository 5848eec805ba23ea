#pragma once

#include <memory>

#include "probe/dns/resolver.hpp"
#include "probe/probers/prober.hpp"

namespace reachprobe {

// `type: tcp`: resolve, connect, close. Success means the SYN was answered with SYN-ACK.
class TcpProber final : public Prober {
 public:
  explicit TcpProber(std::shared_ptr<dns::Resolver> resolver) : resolver_(std::move(resolver)) {}
  boost::asio::awaitable<ProbeResult> probe(const Endpoint& endpoint, Deadline deadline) override;

 private:
  std::shared_ptr<dns::Resolver> resolver_;
};

}  // namespace reachprobe
