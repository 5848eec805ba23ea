#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "probe/dns/resolver.hpp"
#include "probe/probers/prober.hpp"

namespace reachprobe {

// `type: dns`: asks a DNS server for `query` / `record` the way the system resolver would
// (search domains and ndots of resolv.conf for relative names, UDP then TCP on truncation)
// and classifies the reply: ok, nxdomain, servfail, dns_refused, no_answer, dns_timeout,
// error (also for an `expect` check that fails). With `connect_port` it then connects to
// the addresses of the answer at once (at most max_connect, else kDefaultMaxConnect); each is a
// fan-out result ("IP:port") whose failure does not change the outcome of the dns probe itself,
// which is about DNS.
class DnsProber final : public Prober {
 public:
  // `settings` are the global DNS settings (the same the Resolver gets: servers, the c-ares
  // retry policy, a resolv.conf to read instead of /etc/resolv.conf); hosts_path is unused, a
  // DNS probe asks DNS. `node_name` picks the addresses of a target with max_connect.
  DnsProber(boost::asio::io_context& io, dns::ResolverOptions settings, std::string node_name);
  ~DnsProber() override;
  DnsProber(const DnsProber&) = delete;
  DnsProber& operator=(const DnsProber&) = delete;

  boost::asio::awaitable<ProbeResult> probe(const Endpoint& endpoint, Deadline deadline) override;

  // c-ares channels made so far: one per distinct server list (a target's `server`, else
  // the global servers, else resolv.conf), kept for the prober's life.
  std::size_t channel_count() const;

 private:
  struct Impl;
  static boost::asio::awaitable<ProbeResult> probe_with(std::weak_ptr<Impl> weak, Endpoint endpoint,
                                                        Deadline deadline);
  // Shared only so that a probe still in flight can see that the prober is gone.
  std::shared_ptr<Impl> impl_;
};

// The addresses a node connects to when a dns probe may connect to at most `limit` of
// them: rendezvous_choice (probe/core/rendezvous.hpp) over the addresses' text, in their
// original order.
std::vector<boost::asio::ip::address> select_connect_addresses(
    const std::vector<boost::asio::ip::address>& addresses, std::size_t limit,
    std::string_view node_name);

}  // namespace reachprobe
