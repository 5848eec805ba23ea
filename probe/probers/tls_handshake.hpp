#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "probe/core/deadline.hpp"
#include "probe/core/probe_result.hpp"
#include "probe/core/target.hpp"
#include "probe/probers/tls_reasons.hpp"

namespace reachprobe {

using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

// The TLS client contexts of one prober, one per distinct (ca_file, insecure_skip_verify):
// loading a trust store costs milliseconds and memory, so it happens once, not per probe.
// A context that cannot be built is not kept: the next probe tries again (a ca_file that
// appears later, e.g. a secret mounted late, is picked up).
class TlsContexts {
 public:
  // The context for `options`, or why there is none, in words for the probe's message.
  std::variant<std::shared_ptr<boost::asio::ssl::context>, std::string> get(
      const TlsOptions& options);

 private:
  std::map<std::pair<std::string, bool>, std::shared_ptr<boost::asio::ssl::context>> contexts_;
};

// Who the handshake is with, for verification and for messages.
struct TlsPeer {
  std::string server_name;  // SNI (unless an IP literal) and the name the certificate must match
  std::string where;        // "IP:port", as the connect step names it
  std::string trust;        // "the system trust store" or "ca_file /path"
  bool verify = true;
};

// A point before the deadline at which a handshake that has received nothing from the
// server yet (not even its ServerHello) is given up as stalled, so that the caller has time
// left to find out why (a path-MTU black hole or a hung server).
struct StallCheck {
  Clock::time_point at;
  bool stalled = false;  // set when the handshake was given up at `at`
};

// The TLS handshake over a connected socket, as a client: timed as the tls phase, bounded
// by `deadline`, classified into `result` on failure (tls_error with the reason a person
// acts on: expired, unknown CA, name mismatch, the server's alert; timeout when nothing
// answers; reset). Records the leaf certificate's expiry whenever one arrived. With
// `stall`, also given up at stall->at if the server has sent nothing by then.
boost::asio::awaitable<std::unique_ptr<TlsStream>> tls_handshake(
    boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& context, const TlsPeer& peer,
    Deadline deadline, ProbeResult& result, StallCheck* stall = nullptr);

// `options.server_name`, or the host when there is none.
TlsPeer tls_peer_for(const TlsOptions& options, const std::string& host, const std::string& where);

}  // namespace reachprobe
