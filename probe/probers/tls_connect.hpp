#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "probe/core/deadline.hpp"
#include "probe/core/probe_result.hpp"
#include "probe/core/target.hpp"
#include "probe/probers/tls_handshake.hpp"

namespace reachprobe {

// The segment size of the second connection that tells a path-MTU black hole from a hung
// server: below any MTU a real path has (tunnels and VPNs take 50 to 100 bytes of 1,500),
// large enough that a certificate chain still takes only a few segments.
inline constexpr int kSmallSegment = 1000;

// Connect to `peer` and handshake with `host` (or options.server_name), as tcp + TLS probes
// do, proving rather than guessing when the handshake stalls after the TCP connect. Such a
// stall is the mark of a path-MTU black hole (full-size packets dropped, the ICMP
// "fragmentation needed" that would shrink them blocked), but also of a hung server. So the
// first handshake is given up when the server has sent nothing by half the time left after
// the connect, and a second connection announcing kSmallSegment-byte segments (TCP_MAXSEG)
// tries again in the other half: if its handshake gets the server's answer, the finding is
// an MTU black hole; if it stalls too, the message says a hung server or a drop after the
// connect. Either way the outcome stays the first attempt's timeout: the path is broken for
// full-size packets. On success (first attempt) the stream; on failure nullptr, with
// `result` saying why.
boost::asio::awaitable<std::unique_ptr<TlsStream>> connect_and_handshake(
    const boost::asio::ip::tcp::endpoint& peer, boost::asio::ssl::context& context,
    const TlsOptions& options, const std::string& host, Deadline deadline, ProbeResult& result);

// When the first handshake is given up as stalled: half the time left after the connect.
// Half, because the second attempt needs a whole connect and handshake of its own, and a
// working handshake takes a few round trips, far less than either half of any sane timeout;
// a server that has begun answering by then is never cut short (see StallCheck).
Clock::time_point stall_point(Clock::time_point connected, Deadline deadline);

}  // namespace reachprobe
