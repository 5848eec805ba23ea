#include "probe/probers/tls.hpp"

#include "probe/core/endpoint.hpp"
#include "probe/probers/classify.hpp"
#include "probe/probers/connect.hpp"
#include "probe/probers/tls_connect.hpp"

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
    if (auto peer =
            co_await resolve_peer(*resolver, endpoint.host, endpoint.port, deadline, result)) {
      auto stream = co_await connect_and_handshake(*peer, *shared_context, options, endpoint.host,
                                                   deadline, result);
      if (stream) {
        // No close_notify exchange: it would wait on the server for nothing the probe needs.
        // No shutdown() either: close sends the same FIN.
        boost::system::error_code ignored;
        stream->lowest_layer().close(ignored);
      }
    }
  }
  explain_refused_cluster_ip(endpoint, result);
  result.set_phase(Phase::Total, since(start));
  co_return result;
}

}  // namespace reachprobe
