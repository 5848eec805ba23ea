#include "probe/probers/tcp.hpp"

#include <gtest/gtest.h>
#include <poll.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <optional>

#include "tests/support/dns_responder.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/run_probe.hpp"

namespace reachprobe {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using test::probe_once;

std::shared_ptr<Target> tcp_target(std::string host, std::uint16_t port, Duration timeout = 1s) {
  auto t = std::make_shared<Target>();
  t->name = "t";
  t->type = ProbeType::Tcp;
  t->hosts = {std::move(host)};
  t->ports = {port};
  t->interval = 10s;
  t->timeout = timeout;
  return t;
}

dns::ResolverOptions make_resolver_options(const std::string& server) {
  dns::ResolverOptions o;
  o.servers = {server};
  o.attempt_timeout = 500ms;
  o.attempts = 3;
  return o;
}

class TcpProberTest : public ::testing::Test {
 protected:
  asio::io_context io;
  test::DnsResponder dns;
  std::shared_ptr<dns::Resolver> resolver =
      std::make_shared<dns::Resolver>(io, make_resolver_options(dns.server()));
  TcpProber prober{resolver};
};

TEST_F(TcpProberTest, ListenerIsOkWithTheAddressAndConnectTime) {
  tcp::acceptor listener(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto e = expand_endpoints({tcp_target("127.0.0.1", listener.local_endpoint().port())}).front();
  auto r = probe_once(io, prober, e);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(r.address, "127.0.0.1");
  ASSERT_TRUE(r.phase(Phase::Connect));
  ASSERT_TRUE(r.phase(Phase::Total));
  EXPECT_FALSE(r.phase(Phase::Dns)) << "an IP literal is not resolved";
  EXPECT_LE(*r.phase(Phase::Connect), *r.phase(Phase::Total));
  EXPECT_LT(*r.phase(Phase::Total), Duration(500ms));
}

TEST_F(TcpProberTest, TheConnectionEndsWithAFinNotAReset) {
  // Servers log an RST (a zero linger) as an error; a plain close is a client that changed
  // its mind. Without shutdown() first, close must still send the FIN.
  tcp::acceptor listener(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto e = expand_endpoints({tcp_target("127.0.0.1", listener.local_endpoint().port())}).front();
  auto r = probe_once(io, prober, e);
  ASSERT_EQ(r.outcome, Outcome::Ok) << r.message;
  tcp::socket accepted(io);
  listener.accept(accepted);  // the probe's connection, waiting in the backlog
  pollfd readable{accepted.native_handle(), POLLIN, 0};
  ASSERT_EQ(::poll(&readable, 1, 5000), 1) << "the probe's end of the connection is still open";
  accepted.non_blocking(true);
  char byte = 0;
  boost::system::error_code ec;
  EXPECT_EQ(accepted.read_some(asio::buffer(&byte, 1), ec), 0u);
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
}

TEST_F(TcpProberTest, Ipv6LoopbackListenerIsOk) {
  boost::system::error_code ec;
  tcp::acceptor listener(io);
  listener.open(tcp::v6(), ec);
  if (!ec) listener.bind(tcp::endpoint(asio::ip::make_address("::1"), 0), ec);
  if (ec) GTEST_SKIP() << "no IPv6 loopback here: " << ec.message();
  listener.listen();
  auto e = expand_endpoints({tcp_target("::1", listener.local_endpoint().port())}).front();
  EXPECT_EQ(e.label, "[::1]:" + std::to_string(listener.local_endpoint().port()));
  auto r = probe_once(io, prober, e);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(r.address, "::1");
}

TEST_F(TcpProberTest, ClosedPortIsRefused) {
  test::ClosedTcpPort closed;
  const auto port = closed.port();
  auto r = probe_once(io, prober, expand_endpoints({tcp_target("127.0.0.1", port)}).front());
  EXPECT_EQ(r.outcome, Outcome::Refused);
  EXPECT_NE(r.message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << r.message;
  EXPECT_EQ(r.address, "127.0.0.1");
}

TEST_F(TcpProberTest, HostNameIsResolvedThroughTheDnsServerWithADnsPhase) {
  tcp::acceptor listener(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  dns.set("api.cluster.test",
          test::DnsRule::answer(std::vector<std::string>{"127.0.0.1"}).delayed(40ms));
  auto e =
      expand_endpoints({tcp_target("api.cluster.test.", listener.local_endpoint().port())}).front();
  auto r = probe_once(io, prober, e);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(r.address, "127.0.0.1");
  ASSERT_TRUE(r.phase(Phase::Dns));
  EXPECT_GE(*r.phase(Phase::Dns), Duration(40ms));
  EXPECT_LT(*r.phase(Phase::Dns), Duration(140ms));
  ASSERT_TRUE(r.phase(Phase::Connect));
  EXPECT_GE(*r.phase(Phase::Total), *r.phase(Phase::Dns) + *r.phase(Phase::Connect));
  EXPECT_GE(dns.query_count("api.cluster.test"), 1);
}

TEST_F(TcpProberTest, DnsFailureOfATcpTargetIsTheDnsResult) {
  dns.set("gone.cluster.test", test::DnsRule::nxdomain());
  dns.set("slow.cluster.test", test::DnsRule::drop());
  auto r =
      probe_once(io, prober, expand_endpoints({tcp_target("gone.cluster.test.", 443)}).front());
  EXPECT_EQ(r.outcome, Outcome::NxDomain) << r.message;
  EXPECT_TRUE(r.address.empty());

  const auto start = Clock::now();
  r = probe_once(io, prober,
                 expand_endpoints({tcp_target("slow.cluster.test.", 443, 300ms)}).front());
  EXPECT_EQ(r.outcome, Outcome::DnsTimeout) << r.message;
  EXPECT_LT(Clock::now() - start, 1s);
}

// Paths through a real (namespaced) network: what a security group does to a SYN.
class TcpProberNetworkTest : public TcpProberTest {
 protected:
  void SetUp() override {
    if (auto why = test::netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  }
};

TEST_F(TcpProberNetworkTest, ListenerInAnotherHostIsOk) {
  test::TestHost host;
  test::ListenerInHost listener(host, 443);
  auto r = probe_once(io, prober, expand_endpoints({tcp_target(host.address(), 443)}).front());
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(r.address, host.address());
}

TEST_F(TcpProberNetworkTest, DroppedSynIsTimeoutAtTheDeadline) {
  test::TestHost host;
  test::ListenerInHost listener(host, 9443);
  host.nft(
      "table inet sg { chain input { type filter hook input priority 0; policy accept; "
      "tcp dport 9443 drop; }\n}\n");
  const auto start = Clock::now();
  auto r =
      probe_once(io, prober, expand_endpoints({tcp_target(host.address(), 9443, 500ms)}).front());
  const auto elapsed = Clock::now() - start;
  EXPECT_EQ(r.outcome, Outcome::Timeout) << r.message;
  EXPECT_GE(elapsed, 500ms);
  EXPECT_LT(elapsed, 600ms) << "the deadline, plus a small margin";
  ASSERT_TRUE(r.phase(Phase::Connect));
  EXPECT_GE(*r.phase(Phase::Connect), Duration(490ms));
  EXPECT_NE(r.message.find("TCP SYN unanswered"), std::string::npos) << r.message;
  EXPECT_EQ(r.address, host.address());
  EXPECT_EQ(listener.accepted(), 0);
}

TEST_F(TcpProberNetworkTest, IcmpHostUnreachableIsUnreachable) {
  test::TestHost host;
  host.nft(
      "table inet sg { chain input { type filter hook input priority 0; policy accept; "
      "tcp dport 10250 reject with icmp type host-unreachable; }\n}\n");
  const auto start = Clock::now();
  auto r =
      probe_once(io, prober, expand_endpoints({tcp_target(host.address(), 10250, 2s)}).front());
  EXPECT_EQ(r.outcome, Outcome::Unreachable) << r.message;
  EXPECT_LT(Clock::now() - start, 1s) << "an ICMP reject answers at once";
}

TEST_F(TcpProberNetworkTest, NoRouteIsUnreachable) {
  test::UnreachableRoute route;
  auto r = probe_once(io, prober, expand_endpoints({tcp_target(route.address(), 443)}).front());
  EXPECT_EQ(r.outcome, Outcome::Unreachable) << r.message;
  EXPECT_NE(r.message.find(route.address()), std::string::npos);
}

TEST_F(TcpProberNetworkTest, ClosedPortOnAnotherHostIsRefused) {
  test::TestHost host;
  auto r = probe_once(io, prober, expand_endpoints({tcp_target(host.address(), 9443)}).front());
  EXPECT_EQ(r.outcome, Outcome::Refused) << r.message;
}

}  // namespace
}  // namespace reachprobe
