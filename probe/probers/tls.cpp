#include "probe/probers/tls.hpp"

#include "probe/core/endpoint.hpp"
#include "probe/probers/connect.hpp"

namespace reachprobe {

boost::asio::awaitable<ProbeResult> TlsProber::probe(const Endpoint& endpoint, Deadline deadline) {
  const auto start = Clock::now();
  // Held for the whole probe: a reload may drop the prober while this runs.
  const auto resolver = resolver_;
  const TlsOptions options = endpoint.target->tls.value_or(TlsOptions{});
  ProbeResult result;
  auto context = contexts_.get(options);
  if (auto* problem = std::get_if<std::string>(&context)) {
    result.outcome = Outcome::Error;
    result.message = *problem;
  } else {
    const auto shared_context = std::get<std::shared_ptr<boost::asio::ssl::context>>(context);
    auto socket =
        co_await resolve_and_connect(*resolver, endpoint.host, endpoint.port, deadline, result);
    if (socket) {
      const auto peer =
          tls_peer_for(options, endpoint.host, join_host_port(result.address, endpoint.port));
      auto stream =
          co_await tls_handshake(std::move(*socket), *shared_context, peer, deadline, result);
      if (stream) {
        // No close_notify exchange: it would wait on the server for nothing the probe needs.
        // No shutdown() either: close sends the same FIN.
        boost::system::error_code ignored;
        stream->lowest_layer().close(ignored);
      }
    }
  }
  result.set_phase(Phase::Total, since(start));
  co_return result;
}

}  // namespace reachprobe
