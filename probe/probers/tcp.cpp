#include "probe/probers/tcp.hpp"

#include "probe/probers/classify.hpp"
#include "probe/probers/connect.hpp"

namespace reachprobe {

boost::asio::awaitable<ProbeResult> TcpProber::probe(const Endpoint& endpoint, Deadline deadline) {
  const auto start = Clock::now();
  // Held for the whole probe: a reload may drop the prober while this runs.
  const auto resolver = resolver_;
  ProbeResult result;
  if (auto peer =
          co_await resolve_peer(*resolver, endpoint.host, endpoint.port, deadline, result)) {
    co_await connect_and_close(*peer, deadline, result);
  }
  explain_refused_cluster_ip(endpoint, result);
  result.set_phase(Phase::Total, std::chrono::duration_cast<Duration>(Clock::now() - start));
  co_return result;
}

}  // namespace reachprobe
