#include "probe/probers/tls_connect.hpp"

#include <fmt/format.h>

#include "probe/core/duration_text.hpp"
#include "probe/core/endpoint.hpp"
#include "probe/probers/connect.hpp"

namespace reachprobe {

namespace asio = boost::asio;
using asio::ip::tcp;

Clock::time_point stall_point(Clock::time_point connected, Deadline deadline) {
  if (deadline.at <= connected) return deadline.at;
  return connected + (deadline.at - connected) / 2;
}

namespace {

// What the second connection, with small segments, says about the first one's stall.
// "1,000": how the messages write kSmallSegment.
std::string small_segment_text() {
  return fmt::format("{},{:03}", kSmallSegment / 1000, kSmallSegment % 1000);
}

void explain_stall(const ProbeResult& second, const std::string& where, Duration stalled_for,
                   ProbeResult& result) {
  const std::string full_size =
      fmt::format("no byte of the server's handshake within {} of the TCP connect",
                  format_latency(stalled_for));
  result.outcome = Outcome::Timeout;
  // The server's flight arrived with small segments: a handshake that completed, or one that
  // failed on what the server sent (a certificate this node does not trust).
  if (second.outcome == Outcome::Ok || second.outcome == Outcome::TlsError) {
    result.finding = Finding::MtuBlackHole;
    result.message = fmt::format(
        "path MTU black hole: the TLS handshake with {} completes with {}-byte segments, "
        "stalls with full-size ones ({}): packets of full size are dropped on the path and the "
        "ICMP \"fragmentation needed\" (type 3 code 4) that would shrink them does not come "
        "back{}",
        where, small_segment_text(), full_size,
        second.outcome == Outcome::TlsError ? fmt::format(" (then: {})", second.message) : "");
    return;
  }
  if (second.outcome == Outcome::Timeout && second.phase(Phase::Tls)) {
    result.message = fmt::format(
        "TLS handshake with {} stalled: TCP connected, but {}, and the same with {}-byte "
        "segments on a second connection, so not a path-MTU problem: a hung server, something "
        "on this port that does not speak TLS first, or a middlebox dropping packets after the "
        "connect",
        where, full_size, small_segment_text());
    return;
  }
  result.message = fmt::format(
      "TLS handshake with {} stalled: TCP connected, but {}; a second connection with {}-byte "
      "segments did not tell why: {}",
      where, full_size, small_segment_text(),
      second.message.empty() ? "no answer" : second.message);
}

}  // namespace

asio::awaitable<std::unique_ptr<TlsStream>> connect_and_handshake(
    const tcp::endpoint& peer, asio::ssl::context& context, const TlsOptions& options,
    const std::string& host, Deadline deadline, ProbeResult& result) {
  auto socket = co_await connect_to(peer, deadline, result);
  if (!socket) co_return nullptr;
  const auto connected = Clock::now();
  const std::string where = join_host_port(result.address, peer.port());
  const TlsPeer tls_peer = tls_peer_for(options, host, where);
  StallCheck stall{stall_point(connected, deadline)};
  auto stream =
      co_await tls_handshake(std::move(*socket), context, tls_peer, deadline, result, &stall);
  if (stream || !stall.stalled) co_return stream;

  const Duration stalled_for = since(connected);
  ProbeResult second;
  if (auto small = co_await connect_to(peer, deadline, second, kSmallSegment)) {
    auto retried = co_await tls_handshake(std::move(*small), context, tls_peer, deadline, second);
    if (retried) {
      boost::system::error_code ignored;
      retried->lowest_layer().close(ignored);
    }
  }
  explain_stall(second, where, stalled_for, result);
  // The handshake failed when the second attempt settled it, not at the stall point.
  result.set_phase(Phase::Tls, since(connected));
  co_return nullptr;
}

}  // namespace reachprobe
