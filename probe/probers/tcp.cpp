#include "probe/probers/tcp.hpp"

#include "probe/probers/connect.hpp"

namespace reachprobe {

boost::asio::awaitable<ProbeResult> TcpProber::probe(const Endpoint& endpoint, Deadline deadline) {
  const auto start = Clock::now();
  // Held for the whole probe: a reload may drop the prober while this runs.
  const auto resolver = resolver_;
  ProbeResult result;
  auto socket =
      co_await resolve_and_connect(*resolver, endpoint.host, endpoint.port, deadline, result);
  if (socket) {
    // A plain close (FIN), as a client that changed its mind would: servers log nothing
    // alarming, unlike an RST from a zero linger.
    boost::system::error_code ignored;
    socket->shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket->close(ignored);
  }
  result.set_phase(Phase::Total, std::chrono::duration_cast<Duration>(Clock::now() - start));
  co_return result;
}

}  // namespace reachprobe
