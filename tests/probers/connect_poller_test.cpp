#include "probe/probers/connect_poller.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/exposition.hpp"

namespace reachprobe {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

// A non-blocking socket with a connect to 127.0.0.1:port in progress (or already done).
int connecting_socket(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  EXPECT_TRUE(rc == 0 || errno == EINPROGRESS) << std::strerror(errno);
  return fd;
}

int so_error(int fd) {
  int error = -1;
  socklen_t size = sizeof error;
  EXPECT_EQ(getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size), 0);
  return error;
}

// The read end of a pipe is never writable: a connect that never finishes.
struct NeverWritable {
  NeverWritable() { EXPECT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0); }
  ~NeverWritable() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  int fd() const { return fds[0]; }
  int fds[2] = {-1, -1};
};

// Runs `io` until it has no work left, bounded: a poller that kept work alive with nothing
// pending would hang every io_context::run() of the tests and the daemon's shutdown.
bool run_to_idle(asio::io_context& io, Duration limit = 5s) {
  io.restart();
  io.run_for(std::chrono::duration_cast<std::chrono::milliseconds>(limit));
  return io.stopped();
}

TEST(ConnectPoller, ConnectToAListenerCompletesAndLeavesNoWork) {
  asio::io_context io;
  tcp::acceptor listener(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  int fd = connecting_socket(listener.local_endpoint().port());
  auto& poller = ConnectPoller::of(io.get_executor());
  std::optional<boost::system::error_code> got;
  poller.async_wait_connected(fd, Clock::now() + 5s,
                              [&](boost::system::error_code ec) { got = ec; });
  EXPECT_EQ(poller.pending(), 1u);
  ASSERT_TRUE(run_to_idle(io));
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(*got) << got->message();
  EXPECT_EQ(so_error(fd), 0);
  EXPECT_EQ(poller.pending(), 0u);
  ::close(fd);
}

TEST(ConnectPoller, RefusedConnectCompletesWithTheErrorInSoError) {
  asio::io_context io;
  test::ClosedTcpPort closed;
  int fd = connecting_socket(closed.port());
  std::optional<boost::system::error_code> got;
  ConnectPoller::of(io.get_executor())
      .async_wait_connected(fd, Clock::now() + 5s, [&](boost::system::error_code ec) { got = ec; });
  ASSERT_TRUE(run_to_idle(io));
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(*got) << got->message();
  EXPECT_EQ(so_error(fd), ECONNREFUSED);
  ::close(fd);
}

TEST(ConnectPoller, ManyConnectsInOneWakeAllComplete) {
  asio::io_context io;
  tcp::acceptor listener(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  test::ClosedTcpPort closed;
  std::vector<int> fds;
  std::vector<std::optional<boost::system::error_code>> got(200);
  auto& poller = ConnectPoller::of(io.get_executor());
  for (std::size_t i = 0; i < got.size(); ++i) {
    fds.push_back(connecting_socket(i % 2 ? closed.port() : listener.local_endpoint().port()));
    poller.async_wait_connected(fds.back(), Clock::now() + 5s,
                                [&got, i](boost::system::error_code ec) { got[i] = ec; });
  }
  ASSERT_TRUE(run_to_idle(io));
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(got[i].has_value()) << i;
    EXPECT_FALSE(*got[i]) << i;
    EXPECT_EQ(so_error(fds[i]), i % 2 ? ECONNREFUSED : 0) << i;
    ::close(fds[i]);
  }
}

TEST(ConnectPoller, DeadlinesFireInTheirOrderWhateverTheOrderAdded) {
  asio::io_context io;
  NeverWritable late, early;
  tcp::acceptor listener(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  int connected = connecting_socket(listener.local_endpoint().port());
  auto& poller = ConnectPoller::of(io.get_executor());
  const auto start = Clock::now();
  std::vector<std::pair<std::string, Duration>> order;
  auto record = [&](std::string name) {
    return [&order, &start, name](boost::system::error_code ec) {
      EXPECT_EQ(ec, asio::error::timed_out) << name;
      order.emplace_back(name, Clock::now() - start);
    };
  };
  // The later deadline first: the timer must move to the earlier one when it comes.
  poller.async_wait_connected(late.fd(), start + 300ms, record("late"));
  poller.async_wait_connected(early.fd(), start + 100ms, record("early"));
  std::optional<boost::system::error_code> connected_result;
  poller.async_wait_connected(connected, start + 200ms,
                              [&](boost::system::error_code ec) { connected_result = ec; });
  ASSERT_TRUE(run_to_idle(io));
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0].first, "early");
  EXPECT_GE(order[0].second, 100ms);
  EXPECT_EQ(order[1].first, "late");
  EXPECT_GE(order[1].second, 300ms);
  ASSERT_TRUE(connected_result.has_value());
  EXPECT_FALSE(*connected_result) << "a finished connect is not a timeout";
  EXPECT_EQ(poller.pending(), 0u);
  ::close(connected);
}

TEST(ConnectPoller, AWaitAfterAnIdleTimerFireStillTimesOut) {
  // The timer fires while nothing is pending and nobody watches: the next wait must arm it
  // again, or a dropped SYN would never time out.
  asio::io_context io;
  tcp::acceptor listener(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto& poller = ConnectPoller::of(io.get_executor());
  int fd = connecting_socket(listener.local_endpoint().port());
  bool first = false;
  poller.async_wait_connected(fd, Clock::now() + 50ms,
                              [&](boost::system::error_code) { first = true; });
  ASSERT_TRUE(run_to_idle(io));
  ASSERT_TRUE(first);
  ::close(fd);
  // The event loop runs past the 50 ms the poller's timer was armed for, with nothing
  // pending: the loop sees the timer's wake-up and nobody takes it.
  asio::steady_timer gap(io, 150ms);
  gap.async_wait([](const boost::system::error_code&) {});
  ASSERT_TRUE(run_to_idle(io));
  NeverWritable never;
  std::optional<boost::system::error_code> got;
  const auto start = Clock::now();
  poller.async_wait_connected(never.fd(), start + 150ms,
                              [&](boost::system::error_code ec) { got = ec; });
  ASSERT_TRUE(run_to_idle(io));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, asio::error::timed_out);
  EXPECT_GE(Clock::now() - start, 150ms);
}

TEST(ConnectPoller, PendingWaitsAreDestroyedNotCalledWhenTheIoContextGoes) {
  NeverWritable never;
  auto alive = std::make_shared<int>(0);
  std::weak_ptr<int> watch = alive;
  bool called = false;
  {
    asio::io_context io;
    ConnectPoller::of(io.get_executor())
        .async_wait_connected(
            never.fd(), Clock::now() + 60s,
            [&called, alive = std::move(alive)](boost::system::error_code) { called = true; });
    io.run_for(20ms);
  }
  EXPECT_FALSE(called);
  EXPECT_TRUE(watch.expired()) << "the handler (a probe's coroutine) leaked";
}

}  // namespace
}  // namespace reachprobe
