#include "probe/probers/connect.hpp"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/error.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

#include "probe/core/duration_text.hpp"
#include "probe/core/endpoint.hpp"
#include "probe/probers/classify.hpp"
#include "probe/probers/connect_poller.hpp"

namespace reachprobe {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

boost::system::error_code errno_code(int error) {
  return boost::system::error_code(error, boost::system::system_category());
}

// The outcome of a finished connect: SO_ERROR, read once. A writable socket with no error
// is connected; Asio's async_connect asks poll() first, which says the same again.
boost::system::error_code connect_error(int fd) {
  int error = 0;
  socklen_t size = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) return errno_code(errno);
  return errno_code(error);
}

void no_time_left(ProbeResult& result, const std::string& where) {
  result.outcome = Outcome::Timeout;
  result.message = fmt::format("no time left to connect to {}", where);
}

void deadline_hit(ProbeResult& result, const std::string& where, Clock::time_point start) {
  result.outcome = Outcome::Timeout;
  result.message = fmt::format(
      "no answer from {} within {} (TCP SYN unanswered: a firewall or security group drops "
      "it)",
      where, format_latency(since(start)));
}

void connect_failed(ProbeResult& result, const std::string& where,
                    const boost::system::error_code& ec) {
  result.outcome = classify_connect_error(ec);
  result.message = describe_connect_error(ec, where);
}

// A socket descriptor closed on every way out, including a probe dropped at shutdown.
class SocketFd {
 public:
  explicit SocketFd(int fd) : fd_(fd) {}
  ~SocketFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  SocketFd(const SocketFd&) = delete;
  SocketFd& operator=(const SocketFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

asio::awaitable<std::optional<tcp::socket>> connect_to(const tcp::endpoint& peer, Deadline deadline,
                                                       ProbeResult& result, int max_segment) {
  auto executor = co_await asio::this_coro::executor;
  const std::string where = join_host_port(peer.address().to_string(), peer.port());
  result.address = peer.address().to_string();

  tcp::socket socket(executor);
  boost::system::error_code ec;
  socket.open(peer.protocol(), ec);
  // Asio sets this with an ioctl before its first asynchronous operation anyway; set here,
  // the connect below can be the plain non-blocking one.
  if (!ec) socket.native_non_blocking(true, ec);
  if (!ec && max_segment > 0 &&
      ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_MAXSEG, &max_segment,
                   sizeof max_segment) != 0) {
    ec = errno_code(errno);
  }
  if (ec) {
    result.outcome = Outcome::Error;
    result.message = fmt::format("cannot open a socket for {}: {}", where, ec.message());
    co_return std::nullopt;
  }

  const auto start = Clock::now();
  if (deadline.passed()) {
    no_time_left(result, where);
    co_return std::nullopt;
  }
  // Not async_connect: it polls the socket once more after the wait for writability.
  if (::connect(socket.native_handle(), peer.data(), peer.size()) != 0) {
    if (errno != EINPROGRESS) {
      ec = errno_code(errno);
    } else {
      ExpiryGuard guard(executor, deadline, [&socket] {
        boost::system::error_code ignored;
        socket.cancel(ignored);
      });
      co_await socket.async_wait(tcp::socket::wait_write,
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (guard.fired()) {
        result.set_phase(Phase::Connect, since(start));
        deadline_hit(result, where, start);
        co_return std::nullopt;
      }
      if (!ec) ec = connect_error(socket.native_handle());
    }
  }
  result.set_phase(Phase::Connect, since(start));
  if (ec) {
    connect_failed(result, where, ec);
    co_return std::nullopt;
  }
  result.outcome = Outcome::Ok;
  co_return std::optional<tcp::socket>(std::move(socket));
}

asio::awaitable<void> connect_and_close(const tcp::endpoint& peer, Deadline deadline,
                                        ProbeResult& result) {
  const std::string where = join_host_port(peer.address().to_string(), peer.port());
  result.address = peer.address().to_string();

  // Non-blocking and close-on-exec from the start: no ioctl, no fcntl. Never an Asio socket:
  // the ConnectPoller waits for it with one epoll_ctl, and its close is the only cleanup.
  SocketFd socket(
      ::socket(peer.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
  if (socket.get() < 0) {
    result.outcome = Outcome::Error;
    result.message =
        fmt::format("cannot open a socket for {}: {}", where, errno_code(errno).message());
    co_return;
  }

  const auto start = Clock::now();
  if (deadline.passed()) {
    no_time_left(result, where);
    co_return;
  }
  boost::system::error_code ec;
  if (::connect(socket.get(), peer.data(), peer.size()) != 0) {
    if (errno != EINPROGRESS) {
      ec = errno_code(errno);
    } else {
      auto executor = co_await asio::this_coro::executor;
      co_await ConnectPoller::of(executor).async_wait_connected(
          socket.get(), deadline.at, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::timed_out) {  // the poller's deadline, not the kernel's
        result.set_phase(Phase::Connect, since(start));
        deadline_hit(result, where, start);
        co_return;
      }
      if (!ec) ec = connect_error(socket.get());
    }
  }
  result.set_phase(Phase::Connect, since(start));
  if (ec) {
    connect_failed(result, where, ec);
    co_return;
  }
  result.outcome = Outcome::Ok;
  // The socket closes on the way out: a plain close (FIN), as a client that changed its mind
  // would, so servers log nothing alarming, unlike an RST from a zero linger. No shutdown()
  // first: close sends the same FIN (and an RST if the server's data arrived unread, with or
  // without a shutdown).
}

asio::awaitable<std::optional<tcp::endpoint>> resolve_peer(dns::Resolver& resolver,
                                                           const std::string& host,
                                                           std::uint16_t port, Deadline deadline,
                                                           ProbeResult& result) {
  boost::system::error_code ec;
  auto literal = asio::ip::make_address(host, ec);
  if (!ec) co_return tcp::endpoint(literal, port);

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
  co_return tcp::endpoint(resolved.addresses.front(), port);
}

asio::awaitable<std::optional<tcp::socket>> resolve_and_connect(dns::Resolver& resolver,
                                                                const std::string& host,
                                                                std::uint16_t port,
                                                                Deadline deadline,
                                                                ProbeResult& result) {
  auto peer = co_await resolve_peer(resolver, host, port, deadline, result);
  if (!peer) co_return std::nullopt;
  co_return co_await connect_to(*peer, deadline, result);
}

}  // namespace reachprobe
