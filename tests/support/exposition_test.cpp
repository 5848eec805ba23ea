#include "tests/support/exposition.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fstream>
#include <set>
#include <vector>

namespace reachprobe::test {
namespace {

// A test that takes a listen port and twenty ports to probe wrote a config with a duplicate
// port once: a port released by one call was handed out again by the next. 500 calls draw
// from about 14,000 ports the kernel picks for port 0, where a repeat is near certain unless
// the helper prevents it.
TEST(FreeTcpPort, NeverHandsOutTheSamePortTwice) {
  std::set<std::uint16_t> seen;
  for (int i = 0; i < 500; ++i) {
    const auto port = free_tcp_port();
    EXPECT_NE(port, 0);
    EXPECT_TRUE(seen.insert(port).second) << "port " << port << " handed out twice, call " << i;
  }
}

// The daemon under test failed to start once ("bind: Address already in use"): the port
// handed out had been released into the kernel's ephemeral range, and a listener on port 0
// took it first. Ports below that range are never handed out by the kernel.
TEST(FreeTcpPort, IsBelowTheEphemeralRangeAndListenable) {
  unsigned ephemeral_start = 0;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> ephemeral_start;
  if (ephemeral_start <= 21000) {
    GTEST_SKIP() << "the ephemeral range starts at " << ephemeral_start
                 << ": no room below it, free_tcp_port takes kernel-picked ports";
  }
  boost::asio::io_context io;
  for (int i = 0; i < 20; ++i) {
    const auto port = free_tcp_port();
    EXPECT_GE(port, 20000);
    EXPECT_LT(port, ephemeral_start);
    boost::asio::ip::tcp::acceptor listener(io);
    boost::system::error_code ec;
    listener.open(boost::asio::ip::tcp::v4(), ec);
    listener.bind({boost::asio::ip::make_address_v4("127.0.0.1"), port}, ec);
    if (!ec) listener.listen(boost::asio::socket_base::max_listen_connections, ec);
    EXPECT_FALSE(ec) << "port " << port << ": " << ec.message();
  }
}

// A closed port stays closed while a test starts listeners on port 0, and refuses.
TEST(ClosedTcpPort, RefusesAndIsNotHandedToTheNextListener) {
  ClosedTcpPort closed;
  boost::asio::io_context io;
  const auto loopback = boost::asio::ip::make_address("127.0.0.1");
  std::vector<boost::asio::ip::tcp::acceptor> listeners;
  for (int i = 0; i < 500; ++i) {
    listeners.emplace_back(io, boost::asio::ip::tcp::endpoint(loopback, 0));
    EXPECT_NE(listeners.back().local_endpoint().port(), closed.port());
  }
  boost::asio::ip::tcp::socket client(io);
  boost::system::error_code error;
  client.connect(boost::asio::ip::tcp::endpoint(loopback, closed.port()), error);
  EXPECT_EQ(error, boost::asio::error::connection_refused) << error.message();
}

// A series named without `vantage` is the node's; one named with it must match it.
TEST(Sample, ASeriesWithoutVantageIsTheNodes) {
  const std::string text =
      "# TYPE a gauge\n"
      "a{target=\"t\",vantage=\"node\"} 1\n"
      "b{vantage=\"node\",zone=\"z\"} 2\n"
      "c{vantage=\"node\"} 3\n"
      "d{target=\"t\",vantage=\"pod\"} 4\n";
  EXPECT_EQ(sample(text, "a{target=\"t\"}"), 1);
  EXPECT_EQ(sample(text, "a{target=\"t\",vantage=\"node\"}"), 1);
  EXPECT_EQ(sample(text, "b{zone=\"z\"}"), 2);
  EXPECT_EQ(sample(text, "c"), 3);
  EXPECT_EQ(sample(text, "d{target=\"t\"}"), std::nullopt);
  EXPECT_EQ(sample(text, "d{target=\"t\",vantage=\"pod\"}"), 4);
}

}  // namespace
}  // namespace reachprobe::test
