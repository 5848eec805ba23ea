#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <memory>
#include <string>
#include <vector>

#include "probe/core/deadline.hpp"
#include "probe/core/outcome.hpp"

namespace reachprobe::dns {

struct ResolverOptions {
  // "IP" or "IP:PORT" (IPv6 as "[::1]:53"); empty: /etc/resolv.conf like the system.
  std::vector<std::string> servers;
  // Read instead of /etc/resolv.conf and /etc/hosts when non-empty (tests).
  std::string resolv_conf_path;
  std::string hosts_path;
};

// Result of resolving a host name the way the system resolver would (A and AAAA).
struct ResolveResult {
  // Ok, NxDomain, ServFail, DnsRefused, NoAnswer, DnsTimeout or Error.
  Outcome outcome = Outcome::Error;
  std::vector<boost::asio::ip::address> addresses;  // in c-ares' (RFC 6724) order
  std::string message;                               // why, when not ok
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
  boost::asio::awaitable<ResolveResult> resolve(const std::string& host, Deadline deadline);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reachprobe::dns
