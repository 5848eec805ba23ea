#include "probe/probers/connect.hpp"

#include <fmt/format.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "probe/core/duration_text.hpp"
#include "probe/core/endpoint.hpp"
#include "probe/probers/classify.hpp"

namespace reachprobe {

namespace asio = boost::asio;
using asio::ip::tcp;

asio::awaitable<std::optional<tcp::socket>> connect_to(const tcp::endpoint& peer, Deadline deadline,
                                                       ProbeResult& result) {
  auto executor = co_await asio::this_coro::executor;
  const std::string where = join_host_port(peer.address().to_string(), peer.port());
  result.address = peer.address().to_string();

  tcp::socket socket(executor);
  boost::system::error_code ec;
  socket.open(peer.protocol(), ec);
  if (ec) {
    result.outcome = Outcome::Error;
    result.message = fmt::format("cannot open a socket for {}: {}", where, ec.message());
    co_return std::nullopt;
  }

  const auto start = Clock::now();
  if (deadline.passed()) {
    result.outcome = Outcome::Timeout;
    result.message = fmt::format("no time left to connect to {}", where);
    co_return std::nullopt;
  }
  ExpiryGuard guard(executor, deadline, [&socket] {
    boost::system::error_code ignored;
    socket.cancel(ignored);
  });
  co_await socket.async_connect(peer, asio::redirect_error(asio::use_awaitable, ec));
  result.set_phase(Phase::Connect, since(start));

  if (guard.fired()) {
    result.outcome = Outcome::Timeout;
    result.message = fmt::format(
        "no answer from {} within {} (TCP SYN unanswered: a firewall or security group drops "
        "it)",
        where, format_latency(since(start)));
    co_return std::nullopt;
  }
  if (ec) {
    result.outcome = classify_connect_error(ec);
    result.message = describe_connect_error(ec, where);
    co_return std::nullopt;
  }
  result.outcome = Outcome::Ok;
  co_return std::optional<tcp::socket>(std::move(socket));
}

asio::awaitable<std::optional<tcp::socket>> resolve_and_connect(dns::Resolver& resolver,
                                                                const std::string& host,
                                                                std::uint16_t port,
                                                                Deadline deadline,
                                                                ProbeResult& result) {
  boost::system::error_code ec;
  auto literal = asio::ip::make_address(host, ec);
  if (!ec) co_return co_await connect_to(tcp::endpoint(literal, port), deadline, result);

  const auto start = Clock::now();
  dns::ResolveResult resolved = co_await resolver.resolve(host, deadline);
  result.set_phase(Phase::Dns, since(start));
  if (resolved.outcome != Outcome::Ok) {
    result.outcome = resolved.outcome;
    result.message = resolved.message;
    co_return std::nullopt;
  }
  if (resolved.addresses.empty()) {
    result.outcome = Outcome::NoAnswer;
    result.message = fmt::format("{} resolved to no address", host);
    co_return std::nullopt;
  }
  co_return co_await connect_to(tcp::endpoint(resolved.addresses.front(), port), deadline, result);
}

}  // namespace reachprobe
