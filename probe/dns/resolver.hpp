#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "probe/core/deadline.hpp"
#include "probe/core/outcome.hpp"

namespace reachprobe::dns {

struct ResolverOptions {
  // "IP" or "IP:PORT" (IPv6 as "[::1]:53"); empty: /etc/resolv.conf like the system.
  std::vector<std::string> servers;
  // Read instead of /etc/resolv.conf when non-empty (tests); search and ndots come from it.
  std::string resolv_conf_path;
  // Read instead of /etc/hosts when non-empty (tests). c-ares 1.18 cannot be given another
  // hosts file, so the Resolver reads this one itself and lets c-ares do DNS only.
  std::string hosts_path;
  // c-ares' retransmission within the deadline of resolve(), which bounds the whole lookup
  // regardless; see AresChannelOptions. Zero: c-ares' defaults.
  std::chrono::milliseconds attempt_timeout{0};
  int attempts = 0;
};

// Result of resolving a host name the way the system resolver would (A and AAAA).
struct ResolveResult {
  // Ok, NxDomain, ServFail, DnsRefused, NoAnswer, DnsTimeout or Error.
  Outcome outcome = Outcome::Error;
  std::vector<boost::asio::ip::address> addresses;  // in c-ares' (RFC 6724) order
  std::string message;                              // why, when not ok
  Duration latency{};  // from the start of the lookup to its answer; zero for an IP literal
};

// Host-name resolution through c-ares, driven by the io_context it is given: c-ares tells
// which sockets it wants watched (socket-state callback) and Asio waits on them, so there is
// no resolver thread and nothing blocks. One instance per set of DNS servers.
class Resolver {
 public:
  // Throws std::invalid_argument with a clear message for a malformed server.
  Resolver(boost::asio::io_context& io, const ResolverOptions& options);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Never throws for DNS conditions; a reply that does not come before `deadline` is
  // DnsTimeout. The query is abandoned, not leaked: c-ares finishes it on its own clock.
  // IP literals, the hosts file and localhost (RFC 6761) are answered without a query.
  // `host` is copied, and the awaitable may outlive the Resolver: it then ends with Error.
  boost::asio::awaitable<ResolveResult> resolve(const std::string& host, Deadline deadline);

  // The servers queries go to, "127.0.0.1:53", as named in messages.
  const std::string& servers() const;

 private:
  struct Impl;
  static boost::asio::awaitable<ResolveResult> resolve_with(std::weak_ptr<Impl> weak,
                                                            std::string host, Deadline deadline);
  // Shared only so that a resolve() still in flight can see that the Resolver is gone.
  std::shared_ptr<Impl> impl_;
};

}  // namespace reachprobe::dns
