#include "probe/probers/classify.hpp"

#include <fmt/format.h>

#include <boost/asio/error.hpp>
#include <cerrno>

namespace reachprobe {

Outcome classify_connect_error(const boost::system::error_code& ec) {
  if (ec.category() != boost::system::system_category()) return Outcome::Error;
  switch (ec.value()) {
    case ECONNREFUSED:
      return Outcome::Refused;
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENETDOWN:
    case EHOSTDOWN:
      return Outcome::Unreachable;
    case ECONNRESET:
    case ECONNABORTED:
    case EPIPE:
      return Outcome::Reset;
    // The kernel gave up retransmitting SYNs: only with timeouts longer than its retries.
    case ETIMEDOUT:
      return Outcome::Timeout;
    default:
      return Outcome::Error;
  }
}

std::string describe_connect_error(const boost::system::error_code& ec, const std::string& where) {
  if (ec.category() == boost::system::system_category()) {
    switch (ec.value()) {
      case ECONNREFUSED:
        return fmt::format(
            "connection refused (TCP RST) by {}: the path is open but nothing "
            "listens on that port",
            where);
      case EHOSTUNREACH:
        return fmt::format("no route to host {} (EHOSTUNREACH)", where);
      case ENETUNREACH:
        return fmt::format("network unreachable for {} (ENETUNREACH)", where);
      case ENETDOWN:
        return fmt::format("network down for {} (ENETDOWN)", where);
      case EHOSTDOWN:
        return fmt::format("host down: {} (EHOSTDOWN)", where);
      case ECONNRESET:
        return fmt::format("connection reset by {}", where);
      case ETIMEDOUT:
        return fmt::format("connect to {} timed out in the kernel", where);
      case EPERM:
      case EACCES:
        return fmt::format("connect to {} not permitted: a local firewall rule rejects it ({})",
                           where, ec.message());
      case EADDRNOTAVAIL:
        return fmt::format("no local address or port available to reach {} ({})", where,
                           ec.message());
      default:
        break;
    }
  }
  return fmt::format("connect to {} failed: {}", where, ec.message());
}

void explain_refused_cluster_ip(const Endpoint& endpoint, ProbeResult& result) {
  if (result.outcome != Outcome::Refused || !endpoint.backends || endpoint.backends->ready != 0) {
    return;
  }
  result.finding = Finding::NoReadyEndpoints;
  result.message = fmt::format(
      "Service {}/{} has no ready endpoints: kube-proxy rejects connections to its ClusterIP "
      "{} (refused by a reject rule, not by a missing listener or a firewall)",
      endpoint.backends->namespace_name, endpoint.backends->service, endpoint.label);
}

}  // namespace reachprobe
