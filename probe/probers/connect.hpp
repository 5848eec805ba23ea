#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <optional>
#include <string>

#include "probe/core/deadline.hpp"
#include "probe/core/probe_result.hpp"
#include "probe/dns/resolver.hpp"

namespace reachprobe {

// The first steps every TCP-based prober shares: resolve `host` (timed as the dns phase,
// skipped for an IP literal) and connect to the first address (the connect phase). On
// failure `result` holds the outcome and message and nullopt is returned; on success the
// connected socket. `result.address` is the IP contacted either way, once known.
boost::asio::awaitable<std::optional<boost::asio::ip::tcp::socket>> resolve_and_connect(
    dns::Resolver& resolver, const std::string& host, std::uint16_t port, Deadline deadline,
    ProbeResult& result);

// Connects to one address within the deadline, timing the connect phase into `result`.
// `max_segment` (bytes, 0: the kernel's choice) is set as TCP_MAXSEG before the connect: the
// SYN then announces that MSS, and the peer sends no larger segments.
boost::asio::awaitable<std::optional<boost::asio::ip::tcp::socket>> connect_to(
    const boost::asio::ip::tcp::endpoint& peer, Deadline deadline, ProbeResult& result,
    int max_segment = 0);

// The address to connect to: `host` itself when it is an IP literal, else the first address
// it resolves to (timed as the dns phase). nullopt with the outcome in `result` on failure.
boost::asio::awaitable<std::optional<boost::asio::ip::tcp::endpoint>> resolve_peer(
    dns::Resolver& resolver, const std::string& host, std::uint16_t port, Deadline deadline,
    ProbeResult& result);

// A connect and a close, for probes that only ask whether the SYN is answered (tcp, the dns
// fan-out): outcome and connect phase in `result`, as connect_to. A plain socket waited for
// by the ConnectPoller, at the fewest syscalls the kernel allows (socket, connect, epoll_ctl,
// getsockopt, close, and a share of the event loop's wakes).
boost::asio::awaitable<void> connect_and_close(const boost::asio::ip::tcp::endpoint& peer,
                                               Deadline deadline, ProbeResult& result);

}  // namespace reachprobe
