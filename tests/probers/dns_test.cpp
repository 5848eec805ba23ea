#include "probe/probers/dns.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "probe/engine/scheduler.hpp"
#include "probe/sinks/log_sink.hpp"
#include "probe/sinks/metrics_sink.hpp"
#include "tests/probers/dns_prober_test.hpp"
#include "tests/probers/dns_test_helpers.hpp"
#include "tests/support/dns_responder.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/log_capture.hpp"

namespace reachprobe {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using test::DnsRule;
using test::DnsTransport;
using namespace dns_test;

std::vector<std::string> queried_names(const test::DnsResponder& dns) {
  std::vector<std::string> names;
  for (const auto& q : dns.queries()) names.push_back(q.name);
  return names;
}

TEST_F(DnsProberTest, AnswerIsOkWithCountNameAndRecords) {
  dns.set("am.monitoring.svc.cluster.test",
          DnsRule::answer({"198.18.0.1", "198.18.0.2", "198.18.0.3"}));
  auto r = probe(dns_target("am.monitoring.svc.cluster.test."));
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(r.message,
            "3 A records for am.monitoring.svc.cluster.test: 198.18.0.1, 198.18.0.2, 198.18.0.3");
  EXPECT_EQ(r.answers, std::optional<std::size_t>(3));
  EXPECT_EQ(r.address, "127.0.0.1") << "the DNS server asked";
  ASSERT_TRUE(r.phase(Phase::Dns));
  ASSERT_TRUE(r.phase(Phase::Total));
  EXPECT_LE(*r.phase(Phase::Dns), *r.phase(Phase::Total));
  EXPECT_FALSE(r.phase(Phase::Connect));
  EXPECT_TRUE(r.fanout.empty()) << "no connect_port, no connects";
  EXPECT_EQ(dns.query_count("am.monitoring.svc.cluster.test", DnsTransport::Udp), 1);
}

TEST_F(DnsProberTest, MeasuredDnsLatencyMatchesTheInjectedDelay) {
  constexpr auto kDelay = 80ms;
  dns.set("slow.test", DnsRule::answer({"198.18.0.1"}).delayed(kDelay));
  const auto started = Clock::now();
  auto r = probe(dns_target("slow.test."));
  const auto elapsed = Clock::now() - started;
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  ASSERT_TRUE(r.phase(Phase::Dns));
  // At least what the responder really held the reply back (on a loaded machine its timer
  // fires late, and that lateness is the network's as far as the prober can tell), and no
  // more than the probe took as this test's clock saw it. A fixed margin above the hold
  // would measure the machine's scheduling delay, not the prober.
  const auto queries = dns.queries();
  ASSERT_EQ(queries.size(), 1u);
  EXPECT_GE(*r.phase(Phase::Dns), Duration(queries[0].held));
  EXPECT_GE(queries[0].held, Duration(kDelay));
  EXPECT_LE(*r.phase(Phase::Dns), elapsed);
}

TEST_F(DnsProberTest, NxDomain) {
  dns.set("gone.test", DnsRule::nxdomain());
  auto r = probe(dns_target("gone.test."));
  EXPECT_EQ(r.outcome, Outcome::NxDomain);
  EXPECT_TRUE(contains(r.message, "gone.test does not exist (NXDOMAIN from 127.0.0.1:"))
      << r.message;
  EXPECT_EQ(r.answers, std::optional<std::size_t>(0));
  EXPECT_TRUE(r.phase(Phase::Dns));
}

TEST_F(DnsProberTest, ServFail) {
  dns.set("broken.test", DnsRule::servfail());
  auto r = probe(dns_target("broken.test."));
  EXPECT_EQ(r.outcome, Outcome::ServFail);
  EXPECT_TRUE(contains(r.message, "answered SERVFAIL for broken.test A")) << r.message;
}

TEST_F(DnsProberTest, RefusedIsDnsRefused) {
  dns.set("acl.test", DnsRule::refused());
  auto r = probe(dns_target("acl.test."));
  EXPECT_EQ(r.outcome, Outcome::DnsRefused);
  EXPECT_TRUE(contains(r.message, "refused the query for acl.test A")) << r.message;
}

TEST_F(DnsProberTest, EmptyAnswerIsNoAnswer) {
  dns.set("empty.test", DnsRule::empty());
  auto r = probe(dns_target("empty.test."));
  EXPECT_EQ(r.outcome, Outcome::NoAnswer);
  EXPECT_TRUE(contains(r.message, "empty.test has no A record")) << r.message;
  EXPECT_EQ(r.answers, std::optional<std::size_t>(0));
}

TEST_F(DnsProberTest, WrongRecordTypeIsNoAnswer) {
  dns.set("v4only.test", DnsRule::answer({"198.18.0.1"}));
  auto r = probe(dns_target("v4only.test.", "AAAA"));
  EXPECT_EQ(r.outcome, Outcome::NoAnswer);
  EXPECT_TRUE(contains(r.message, "v4only.test has no AAAA record")) << r.message;
}

TEST_F(DnsProberTest, CnameToANameWithoutTheTypeIsNoAnswerNamingTheChain) {
  dns.set("alias.test", DnsRule::alias("target.test"));
  dns.set("target.test", DnsRule::answer({"198.18.0.1"}));
  auto r = probe(dns_target("alias.test.", "AAAA"));
  EXPECT_EQ(r.outcome, Outcome::NoAnswer) << r.message;
  EXPECT_TRUE(contains(r.message, "via CNAME target.test")) << r.message;
}

TEST_F(DnsProberTest, DroppedQueryIsDnsTimeoutAtTheDeadline) {
  constexpr auto kTimeout = 300ms;
  dns.set("black.hole.test", DnsRule::drop());
  auto r = probe(dns_target("black.hole.test.", "A", kTimeout));
  EXPECT_EQ(r.outcome, Outcome::DnsTimeout);
  EXPECT_TRUE(contains(r.message, "no DNS reply from 127.0.0.1:")) << r.message;
  EXPECT_FALSE(r.answers.has_value()) << "no reply, no count";
  ASSERT_TRUE(r.phase(Phase::Dns));
  // The phase starts a little after the deadline's clock (more so under sanitizers): it
  // ends at the deadline, not a full timeout after its own start.
  EXPECT_GT(*r.phase(Phase::Dns), Duration(kTimeout * 3 / 4));
  EXPECT_LT(*r.phase(Phase::Dns), Duration(kTimeout + 50ms));
  ASSERT_TRUE(r.phase(Phase::Total));
  EXPECT_LT(*r.phase(Phase::Total), Duration(kTimeout + 50ms));
}

TEST_F(DnsProberTest, TruncatedUdpAnswerIsRepeatedOverTcp) {
  dns.set("big.test", DnsRule::answer({"198.18.0.1", "198.18.0.2"}).truncated());
  auto r = probe(dns_target("big.test."));
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(r.answers, std::optional<std::size_t>(2));
  EXPECT_EQ(dns.query_count("big.test", DnsTransport::Udp), 1);
  EXPECT_EQ(dns.query_count("big.test", DnsTransport::Tcp), 1);
}

TEST_F(DnsProberTest, ClosedDnsPortIsDnsTimeout) {
  test::ClosedTcpPort closed;
  DnsProber elsewhere{
      io, settings({"127.0.0.1:" + std::to_string(closed.port())}, resolv_conf.path()), "node-a"};
  auto r = probe_once(io, elsewhere, endpoint_of(dns_target("any.test.", "A", 500ms)));
  EXPECT_EQ(r.outcome, Outcome::DnsTimeout) << r.message;
}

TEST_F(DnsProberTest, RecordTypes) {
  test::DnsRule rule = DnsRule::answer({"198.18.0.7", "::1"});
  rule.srv = {{10, 5, 9093, "am-0.test"}, {10, 5, 9093, "am-1.test"}};
  rule.txt = {"v=spf1 -all"};
  rule.ns = {"ns1.test", "ns2.test"};
  rule.mx = {{10, "mail.test"}};
  test::RawRecord soa{test::kDnsTypeSoa, test::encode_dns_name("ns1.test")};
  auto rname = test::encode_dns_name("hostmaster.test");
  soa.data.insert(soa.data.end(), rname.begin(), rname.end());
  for (std::uint32_t n : {7u, 3600u, 600u, 86400u, 30u}) {
    for (int shift : {24, 16, 8, 0}) soa.data.push_back(static_cast<std::uint8_t>(n >> shift));
  }
  test::RawRecord caa{test::kDnsTypeCaa, {0, 5, 'i', 's', 's', 'u', 'e', 'c', 'a', '.', 't'}};
  rule.raw = {soa, caa};
  dns.set("all.test", rule);
  dns.set("www.test", DnsRule::alias("all.test"));
  test::DnsRule ptr;
  ptr.ptr = {"host-7.test"};
  dns.set("7.0.18.198.in-addr.arpa", ptr);

  struct Case {
    std::string query;
    std::string record;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"all.test.", "A", "1 A record for all.test: 198.18.0.7"},
      {"all.test.", "AAAA", "1 AAAA record for all.test: ::1"},
      {"all.test.", "SRV", "2 SRV records for all.test: 10 5 9093 am-0.test, 10 5 9093 am-1.test"},
      {"all.test.", "TXT", "1 TXT record for all.test: v=spf1 -all"},
      {"all.test.", "NS", "2 NS records for all.test: ns1.test, ns2.test"},
      {"all.test.", "MX", "1 MX record for all.test: 10 mail.test"},
      {"all.test.", "SOA",
       "1 SOA record for all.test: ns1.test hostmaster.test 7 3600 600 86400 30"},
      {"all.test.", "CAA", "1 CAA record for all.test: 0 issue ca.t"},
      {"www.test.", "CNAME", "1 CNAME record for www.test: all.test"},
      {"www.test.", "A", "1 A record for www.test via CNAME all.test: 198.18.0.7"},
      // A PTR query of an IP literal asks for its reverse name.
      {"198.18.0.7", "PTR", "1 PTR record for 7.0.18.198.in-addr.arpa: host-7.test"},
  };
  for (const auto& c : cases) {
    auto r = probe(dns_target(c.query, c.record));
    EXPECT_EQ(r.outcome, Outcome::Ok) << c.record << " " << c.query << ": " << r.message;
    EXPECT_EQ(r.message, c.message);
  }
}

TEST_F(DnsProberTest, ExpectMinAnswers) {
  dns.set("two.test", DnsRule::answer({"198.18.0.1", "198.18.0.2"}));
  auto t = dns_target("two.test.");
  t->expect.min_answers = 2;
  EXPECT_EQ(probe(t).outcome, Outcome::Ok);

  t = dns_target("two.test.");
  t->expect.min_answers = 3;
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Error);
  EXPECT_EQ(r.message, "expected at least 3 A records for two.test, got 2: 198.18.0.1, 198.18.0.2");
  EXPECT_EQ(r.answers, std::optional<std::size_t>(2));
}

TEST_F(DnsProberTest, ExpectContains) {
  test::DnsRule rule = DnsRule::answer({"198.18.0.10", "::1"});
  rule.srv = {{0, 0, 9093, "am-0.test"}};
  dns.set("kube-dns.test", rule);

  auto t = dns_target("kube-dns.test.");
  t->expect.contains = {"198.18.0.10"};
  EXPECT_EQ(probe(t).outcome, Outcome::Ok);

  t = dns_target("kube-dns.test.", "AAAA");
  t->expect.contains = {"0:0::1"};  // compared as addresses, not as text
  EXPECT_EQ(probe(t).outcome, Outcome::Ok);

  t = dns_target("kube-dns.test.", "SRV");
  t->expect.contains = {"AM-0.test."};  // the name in the record, any case, dot or not
  EXPECT_EQ(probe(t).outcome, Outcome::Ok);

  t = dns_target("kube-dns.test.");
  t->expect.contains = {"198.18.0.10", "198.18.0.11"};
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Error);
  EXPECT_EQ(r.message,
            "expected the A records of kube-dns.test to contain 198.18.0.11, got: 198.18.0.10");
}

class DnsSearchTest : public DnsProberTest {
 protected:
  TempFile search_conf{"search monitoring.svc.cluster.test svc.cluster.test\noptions ndots:2\n"};
  DnsProber searching{io, settings({dns.server()}, search_conf.path()), "node-a"};

  ProbeResult probe(std::shared_ptr<Target> target) {
    return probe_once(io, searching, endpoint_of(std::move(target)));
  }
};

TEST_F(DnsSearchTest, RelativeNameFollowsTheSearchListAndShowsWhichNameAnswered) {
  dns.set("alertmanager.svc.cluster.test", DnsRule::answer({"198.18.0.5"}));
  auto r = probe(dns_target("alertmanager"));
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(r.message, "1 A record for alertmanager.svc.cluster.test: 198.18.0.5");
  EXPECT_EQ(queried_names(dns),
            (std::vector<std::string>{"alertmanager.monitoring.svc.cluster.test",
                                      "alertmanager.svc.cluster.test"}));
}

TEST_F(DnsSearchTest, NameWithNdotsDotsIsTriedAsIsFirst) {
  dns.set("a.b.test", DnsRule::answer({"198.18.0.6"}));
  auto r = probe(dns_target("a.b.test"));
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(queried_names(dns), (std::vector<std::string>{"a.b.test"}));
}

TEST_F(DnsSearchTest, FewerDotsThanNdotsTriesTheSearchListFirst) {
  dns.set("am.monitoring", DnsRule::answer({"198.18.0.6"}));
  auto r = probe(dns_target("am.monitoring"));
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(r.message, "1 A record for am.monitoring: 198.18.0.6");
  EXPECT_EQ(queried_names(dns),
            (std::vector<std::string>{"am.monitoring.monitoring.svc.cluster.test",
                                      "am.monitoring.svc.cluster.test", "am.monitoring"}));
}

TEST_F(DnsSearchTest, AbsoluteNameIgnoresTheSearchList) {
  auto r = probe(dns_target("alertmanager."));
  EXPECT_EQ(r.outcome, Outcome::NxDomain);
  EXPECT_FALSE(contains(r.message, "tried")) << r.message;
  EXPECT_EQ(queried_names(dns), (std::vector<std::string>{"alertmanager"}));
}

TEST_F(DnsSearchTest, FailedSearchListsTheNamesTried) {
  auto r = probe(dns_target("nothing"));
  EXPECT_EQ(r.outcome, Outcome::NxDomain);
  EXPECT_TRUE(contains(r.message,
                       "tried nothing.monitoring.svc.cluster.test, "
                       "nothing.svc.cluster.test, nothing"))
      << r.message;
  EXPECT_EQ(dns.total_queries(), 3);
}

TEST_F(DnsProberTest, TargetServerOverridesTheGlobalOnesAndChannelsAreShared) {
  test::DnsResponder other;
  other.set("only-there.test", DnsRule::answer({"198.18.0.9"}));
  auto t = dns_target("only-there.test.");
  t->server = other.server();
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(other.query_count("only-there.test"), 1);
  EXPECT_EQ(dns.total_queries(), 0);

  probe(t);
  probe(dns_target("x.test."));
  probe(dns_target("y.test."));
  EXPECT_EQ(prober.channel_count(), 2u) << "one channel per distinct server list";
}

TEST_F(DnsProberTest, ResolvConfNameserversWhenNoServerIsGiven) {
  // c-ares takes only an address from resolv.conf, always with port 53: the test listens
  // there itself (root) and stays silent, so the query is seen and no real server is asked.
  const auto silent_server = asio::ip::make_address("127.0.0.201");
  asio::ip::udp::socket listener(io);
  boost::system::error_code ec;
  listener.open(asio::ip::udp::v4(), ec);
  if (!ec) listener.bind(asio::ip::udp::endpoint(silent_server, 53), ec);
  if (ec) GTEST_SKIP() << "cannot listen on 127.0.0.201:53 (needs root): " << ec.message();
  TempFile conf{"nameserver 127.0.0.201\noptions ndots:1\n"};
  DnsProber from_conf{io, settings({}, conf.path()), "node-a"};

  auto r = probe_once(io, from_conf, endpoint_of(dns_target("from-conf.test.", "A", 300ms)));
  EXPECT_EQ(r.outcome, Outcome::DnsTimeout);
  EXPECT_TRUE(contains(r.message, "127.0.0.201:53")) << r.message;
  EXPECT_EQ(r.address, "127.0.0.201");
  std::array<char, 512> datagram{};
  asio::ip::udp::endpoint from;
  listener.non_blocking(true);
  const auto size = listener.receive_from(asio::buffer(datagram), from, 0, ec);
  ASSERT_FALSE(ec) << "no query reached the resolv.conf nameserver: " << ec.message();
  const std::string query(datagram.data(), size);
  EXPECT_TRUE(contains(query, std::string("\x09") + "from-conf" + "\x04" + "test"))
      << "the query names from-conf.test";
}

TEST_F(DnsProberTest, BadServerIsAnErrorNotACrash) {
  auto t = dns_target("x.test.");
  t->server = "not-an-ip";
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Error);
  EXPECT_TRUE(contains(r.message, "not-an-ip")) << r.message;
}

TEST_F(DnsProberTest, ProbeOutlivingTheProberEndsWithError) {
  dns.set("slow.test", DnsRule::answer({"198.18.0.1"}).delayed(200ms));
  auto doomed =
      std::make_unique<DnsProber>(io, settings({dns.server()}, resolv_conf.path()), "node-a");
  std::optional<ProbeResult> result;
  auto e = endpoint_of(dns_target("slow.test."));
  asio::co_spawn(io, doomed->probe(e, Deadline::after(1s)),
                 [&](std::exception_ptr, ProbeResult r) { result = std::move(r); });
  io.run_one_for(20ms);  // the query is sent
  doomed.reset();
  const auto limit = Clock::now() + 2s;
  while (!result && Clock::now() < limit) io.run_one_for(50ms);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->outcome, Outcome::Error);
  EXPECT_TRUE(contains(result->message, "shut down")) << result->message;
}

class DnsFanOutTest : public DnsProberTest {
 protected:
  std::shared_ptr<Target> fanout_target(Duration timeout = 400ms) {
    auto t = dns_target("pods.test.", "A", timeout);
    t->connect_port = ports.port();
    return t;
  }

  FanOutPorts ports;
  const std::uint16_t port = ports.port();
};

TEST_F(DnsFanOutTest, EveryAddressIsConnectedAndClassified) {
  constexpr auto kTimeout = 400ms;
  dns.set("pods.test", DnsRule::answer({"127.0.0.2", "127.0.0.3", "127.0.0.4"}));
  auto r = probe(fanout_target(kTimeout));
  EXPECT_EQ(r.outcome, Outcome::Ok) << "the dns probe is about DNS: " << r.message;
  EXPECT_EQ(r.answers, std::optional<std::size_t>(3));
  ASSERT_EQ(r.fanout.size(), 3u);

  const auto* ok = find_fanout(r, "127.0.0.2");
  const auto* refused = find_fanout(r, "127.0.0.3");
  const auto* dropped = find_fanout(r, "127.0.0.4");
  ASSERT_TRUE(ok && refused && dropped);
  EXPECT_EQ(ok->port, port);
  EXPECT_EQ(ok->result.outcome, Outcome::Ok) << ok->result.message;
  EXPECT_EQ(ok->result.address, "127.0.0.2");
  EXPECT_TRUE(ok->result.phase(Phase::Connect));
  EXPECT_EQ(refused->result.outcome, Outcome::Refused) << refused->result.message;
  EXPECT_EQ(dropped->result.outcome, Outcome::Timeout) << dropped->result.message;
  EXPECT_FALSE(ok->result.answers.has_value());

  // Concurrent, not one after the other: the refused one did not wait for the dropped one.
  ASSERT_TRUE(refused->result.phase(Phase::Total));
  EXPECT_LT(*refused->result.phase(Phase::Total), Duration(100ms));
  ASSERT_TRUE(dropped->result.phase(Phase::Total));
  EXPECT_GT(*dropped->result.phase(Phase::Total), Duration(kTimeout - 50ms));
  EXPECT_LT(*dropped->result.phase(Phase::Total), Duration(kTimeout + 50ms));
  // The parent's latency is its DNS part, not the wait for the dropped connect.
  ASSERT_TRUE(r.phase(Phase::Total));
  EXPECT_LT(*r.phase(Phase::Total), Duration(100ms));
}

TEST_F(DnsProberTest, FanOutAcrossHostsOneOpenOneRefusedOneFirewalled) {
  if (auto why = test::netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  constexpr auto kTimeout = 500ms;
  FirewalledPods pods;
  dns.set("alertmanager-operated.monitoring.svc.cluster.test",
          DnsRule::answer({pods.serving(), pods.refusing(), pods.dropping()}));
  auto t = dns_target("alertmanager-operated.monitoring.svc.cluster.test.", "A", kTimeout);
  t->connect_port = FirewalledPods::kPort;
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  ASSERT_EQ(r.fanout.size(), 3u);
  const auto* ok = find_fanout(r, pods.serving());
  const auto* refused = find_fanout(r, pods.refusing());
  const auto* dropped = find_fanout(r, pods.dropping());
  ASSERT_TRUE(ok && refused && dropped);
  EXPECT_EQ(ok->port, FirewalledPods::kPort);
  EXPECT_EQ(ok->result.outcome, Outcome::Ok) << ok->result.message;
  EXPECT_EQ(refused->result.outcome, Outcome::Refused) << refused->result.message;
  EXPECT_EQ(dropped->result.outcome, Outcome::Timeout) << dropped->result.message;
  EXPECT_TRUE(contains(dropped->result.message, "TCP SYN unanswered")) << dropped->result.message;
  ASSERT_TRUE(dropped->result.phase(Phase::Total));
  EXPECT_LT(*dropped->result.phase(Phase::Total), Duration(kTimeout + 50ms));
}

TEST_F(DnsFanOutTest, FailedDnsConnectsToNothing) {
  dns.set("pods.test", DnsRule::nxdomain());
  auto r = probe(fanout_target());
  EXPECT_EQ(r.outcome, Outcome::NxDomain);
  EXPECT_TRUE(r.fanout.empty());
}

TEST_F(DnsFanOutTest, FailedExpectationStillConnects) {
  dns.set("pods.test", DnsRule::answer({"127.0.0.2"}));
  auto t = fanout_target();
  t->expect.min_answers = 2;
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Error);
  ASSERT_EQ(r.fanout.size(), 1u);
  EXPECT_EQ(r.fanout[0].result.outcome, Outcome::Ok);
}

TEST_F(DnsFanOutTest, MaxConnectPicksTheNodesAddresses) {
  const std::vector<std::string> all = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};
  dns.set("pods.test", DnsRule::answer(all));
  auto t = fanout_target();
  t->max_connect = 2;
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Ok);
  EXPECT_TRUE(contains(r.message, "connecting to 2 of them (max_connect)")) << r.message;
  std::vector<asio::ip::address> addresses;
  for (const auto& a : all) addresses.push_back(asio::ip::make_address(a));
  auto expected = select_connect_addresses(addresses, 2, "node-a");
  ASSERT_EQ(r.fanout.size(), 2u);
  EXPECT_EQ(r.fanout[0].host, expected[0].to_string());
  EXPECT_EQ(r.fanout[1].host, expected[1].to_string());
}

// `count` distinct loopback addresses, 127.1.0.1 on: a large headless Service's answer.
std::vector<std::string> loopback_pods(int count) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    out.push_back("127.1." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1));
  }
  return out;
}

std::vector<asio::ip::address> parsed(const std::vector<std::string>& texts) {
  std::vector<asio::ip::address> out;
  for (const auto& t : texts) out.push_back(asio::ip::make_address(t));
  return out;
}

// 1,500 addresses (over TCP: the UDP answer is truncated, as dnsmasq's was) and no
// max_connect: 64 connects, the node's rendezvous choice, and the cut is said.
TEST_F(DnsProberTest, FanOutWithoutMaxConnectStopsAtTheDefaultBound) {
  test::ClosedTcpPort closed;
  const auto pods = loopback_pods(1500);
  dns.set("pods.test", DnsRule::answer(pods).truncated());
  auto t = dns_target("pods.test.", "A", 1s);
  t->connect_port = closed.port();
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(dns.query_count("pods.test", DnsTransport::Tcp), 1);
  EXPECT_EQ(r.answers, std::optional<std::size_t>(1500));
  ASSERT_TRUE(r.fanout_cut);
  EXPECT_EQ(r.fanout_cut->addresses, 1500u);
  EXPECT_EQ(r.fanout_cut->connected, kDefaultMaxConnect);
  EXPECT_TRUE(r.fanout_cut->default_bound);
  EXPECT_TRUE(contains(r.message,
                       "; connecting to 64 of them (the default bound; max_connect "
                       "sets another, up to 1000)"))
      << r.message;
  const auto expected = select_connect_addresses(parsed(pods), kDefaultMaxConnect, "node-a");
  ASSERT_EQ(r.fanout.size(), kDefaultMaxConnect);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(r.fanout[i].host, expected[i].to_string());
    EXPECT_EQ(r.fanout[i].port, closed.port());
    EXPECT_TRUE(r.fanout[i].result.phase(Phase::Total)) << "each chosen address was connected to";
  }
}

TEST_F(DnsProberTest, MaxConnectRaisesTheBoundAboveTheDefault) {
  test::ClosedTcpPort closed;
  const auto pods = loopback_pods(300);
  dns.set("pods.test", DnsRule::answer(pods).truncated());
  auto t = dns_target("pods.test.", "A", 1s);
  t->connect_port = closed.port();
  t->max_connect = 200;
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(r.fanout.size(), 200u);
  ASSERT_TRUE(r.fanout_cut);
  EXPECT_EQ(r.fanout_cut->connected, 200u);
  EXPECT_FALSE(r.fanout_cut->default_bound);
  EXPECT_TRUE(contains(r.message, "connecting to 200 of them (max_connect)")) << r.message;

  t->max_connect = 300;
  r = probe(t);
  EXPECT_EQ(r.fanout.size(), 300u) << "the whole answer";
  EXPECT_FALSE(r.fanout_cut);
}

TEST_F(DnsProberTest, AnAnswerAtTheDefaultBoundIsNotCut) {
  test::ClosedTcpPort closed;
  dns.set("pods.test", DnsRule::answer(loopback_pods(kDefaultMaxConnect)).truncated());
  auto t = dns_target("pods.test.", "A", 1s);
  t->connect_port = closed.port();
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(r.fanout.size(), kDefaultMaxConnect);
  EXPECT_FALSE(r.fanout_cut);
  EXPECT_FALSE(contains(r.message, "connecting to")) << r.message;
}

// Through the real Scheduler and sinks, several rounds: the metrics hold exactly the 64
// chosen addresses, the counter counts every cut probe, and the log says it once.
TEST_F(DnsProberTest, DefaultBoundThroughTheSchedulerCountsEveryCutAndLogsOnce) {
  test::LogCapture log;
  prometheus::Registry registry;
  MetricsSink metrics;
  FanOutMetrics fanout_metrics(registry);
  StateChangeLogSink log_sink;
  struct ParentResults final : ResultSink {
    void record(const Endpoint& endpoint, const ProbeResult&) override {
      if (endpoint.label == "pods.test.") ++count;
    }
    int count = 0;
  } parent_results;
  FanOutSink sinks({&metrics, &fanout_metrics, &log_sink, &parent_results});
  ProberSet probers;
  probers.add(ProbeType::Dns, std::make_unique<DnsProber>(
                                  io, settings({dns.server()}, resolv_conf.path()), "node-a"));
  Scheduler scheduler(io, sinks);

  test::ClosedTcpPort closed;
  dns.set("pods.test", DnsRule::answer(loopback_pods(1500)).truncated());
  auto t = dns_target("pods.test.", "A", 500ms);
  t->interval = 600ms;
  t->connect_port = closed.port();
  auto bounded = dns_target("bounded.test.", "A", 500ms);
  bounded->name = "bounded";
  bounded->connect_port = closed.port();
  bounded->max_connect = 5;
  fanout_metrics.set_targets({t, bounded});
  scheduler.update(expand_endpoints({t}), probers);

  const auto truncated = [&] {
    auto families = registry.Collect();
    for (const auto& family : families) {
      if (family.name != "reachprobe_fanout_truncated_total") continue;
      for (const auto& metric : family.metric) {
        if (metric.label.size() == 1 && metric.label[0].name == "target" &&
            metric.label[0].value == "dns") {
          return metric.counter.value;
        }
      }
    }
    return -1.0;
  };
  EXPECT_EQ(truncated(), 0.0) << "the series exists from the start";
  ASSERT_TRUE(run_until(
      io, [&] { return parent_results.count >= 3; }, 10s))
      << "probes recorded: " << parent_results.count;
  EXPECT_EQ(truncated(), static_cast<double>(parent_results.count)) << "every probe was cut";
  EXPECT_EQ(log.lines_with("dns fan-out cut to the default bound").size(), 1u);
  EXPECT_TRUE(contains(log.lines_with("fan-out").at(0), "addresses=1500 connected=64"));
  // The exposition: the dns endpoint plus exactly the 64 chosen addresses.
  std::string text;
  metrics.render(text);
  std::set<std::string> endpoints;
  for (const auto& [name, value] : test::samples(text)) {
    const auto at = name.find("dst=\"");
    if (at == std::string::npos) continue;
    endpoints.insert(name.substr(at + 5, name.find('"', at + 5) - at - 5));
  }
  EXPECT_EQ(endpoints.size(), 1 + kDefaultMaxConnect);
  // A target with max_connect has no series: its cut is configured, not an accident.
  {
    auto families = registry.Collect();
    for (const auto& family : families) {
      for (const auto& metric : family.metric) {
        for (const auto& label : metric.label) EXPECT_NE(label.value, "bounded");
      }
    }
  }
  scheduler.stop();
}

TEST_F(DnsProberTest, FanOutToIpv6Loopback) {
  boost::system::error_code ec;
  tcp::acceptor listener(io);
  listener.open(tcp::v6(), ec);
  if (!ec) listener.bind(tcp::endpoint(asio::ip::make_address("::1"), 0), ec);
  if (ec) GTEST_SKIP() << "no IPv6 loopback here: " << ec.message();
  listener.listen();
  dns.set("v6.test", DnsRule::answer({"::1"}));
  auto t = dns_target("v6.test.", "AAAA");
  t->connect_port = listener.local_endpoint().port();
  auto r = probe(t);
  ASSERT_EQ(r.fanout.size(), 1u) << r.message;
  EXPECT_EQ(r.fanout[0].host, "::1");
  EXPECT_EQ(r.fanout[0].result.outcome, Outcome::Ok) << r.fanout[0].result.message;
}

// Pods churn: the answer goes from {a, b} to {b, c}. Through the real Scheduler and
// MetricsSink, c's series appears at once and a's leaves the registry after the expiry.
TEST_F(DnsProberTest, ChurnedAddressLeavesTheMetricsAfterTheExpiry) {
  MetricsSink metrics;
  const auto scrape = [&] {
    std::string out;
    metrics.render(out);
    return out;
  };
  ProberSet probers;
  probers.add(ProbeType::Dns, std::make_unique<DnsProber>(
                                  io, settings({dns.server()}, resolv_conf.path()), "node-a"));
  Scheduler scheduler(io, metrics);

  test::ClosedTcpPort closed("127.0.0.2");
  const auto port = closed.port();
  const auto series = [&](const std::string& ip) {
    return "dst=\"" + ip + ":" + std::to_string(port) + "\"";
  };
  const auto exposed = [&](const std::string& ip) { return contains(scrape(), series(ip)); };
  dns.set("pods.test", DnsRule::answer({"127.0.0.2", "127.0.0.3"}));
  auto t = dns_target("pods.test.", "A", 100ms);
  t->interval = 150ms;
  t->connect_port = port;
  scheduler.update(expand_endpoints({t}), probers);

  ASSERT_TRUE(run_until(
      io, [&] { return exposed("127.0.0.2") && exposed("127.0.0.3"); }, 5s));
  const auto text = scrape();
  EXPECT_TRUE(
      contains(text, R"(reachprobe_dns_answers{dst="pods.test.",target="dns",type="dns",vantage="node"} 2)"))
      << text;

  dns.set("pods.test", DnsRule::answer({"127.0.0.3", "127.0.0.4"}));
  ASSERT_TRUE(run_until(
      io, [&] { return exposed("127.0.0.4"); }, 5s));
  EXPECT_TRUE(exposed("127.0.0.2")) << "a missing address is kept for a few rounds";
  const int queries_when_c_appeared = dns.query_count("pods.test");

  ASSERT_TRUE(run_until(
      io, [&] { return !exposed("127.0.0.2"); }, 5s));
  EXPECT_EQ(dns.query_count("pods.test") - queries_when_c_appeared, kFanOutExpiryRounds - 1)
      << "a leaves in the round that makes it missing " << kFanOutExpiryRounds << " times";
  EXPECT_TRUE(exposed("127.0.0.3"));
  EXPECT_TRUE(exposed("127.0.0.4"));
  scheduler.stop();
}

std::vector<asio::ip::address> pod_addresses(int count) {
  std::vector<asio::ip::address> out;
  for (int i = 1; i <= count; ++i) {
    out.push_back(asio::ip::make_address("198.18." + std::to_string(i / 250) + "." +
                                         std::to_string(i % 250 + 1)));
  }
  return out;
}

TEST(SelectConnectAddresses, AllWhenWithinTheLimit) {
  auto addresses = pod_addresses(3);
  EXPECT_EQ(select_connect_addresses(addresses, 3, "n"), addresses);
  EXPECT_EQ(select_connect_addresses(addresses, 10, "n"), addresses);
}

TEST(SelectConnectAddresses, StableSubsetInAnswerOrder) {
  auto addresses = pod_addresses(20);
  auto picked = select_connect_addresses(addresses, 5, "ip-10-0-1-17.ec2.internal");
  ASSERT_EQ(picked.size(), 5u);
  EXPECT_EQ(picked, select_connect_addresses(addresses, 5, "ip-10-0-1-17.ec2.internal"));
  // In answer order, no duplicates.
  std::vector<std::size_t> positions;
  for (const auto& a : picked) {
    positions.push_back(static_cast<std::size_t>(std::find(addresses.begin(), addresses.end(), a) -
                                                 addresses.begin()));
  }
  EXPECT_TRUE(std::is_sorted(positions.begin(), positions.end()));
  EXPECT_EQ(std::set<std::size_t>(positions.begin(), positions.end()).size(), 5u);
  // Another order of the same answer gives the same choice.
  auto reversed = addresses;
  std::reverse(reversed.begin(), reversed.end());
  auto picked_reversed = select_connect_addresses(reversed, 5, "ip-10-0-1-17.ec2.internal");
  EXPECT_EQ(std::set<asio::ip::address>(picked.begin(), picked.end()),
            std::set<asio::ip::address>(picked_reversed.begin(), picked_reversed.end()));
}

TEST(SelectConnectAddresses, NodesSpreadOverTheAddresses) {
  auto addresses = pod_addresses(10);
  std::set<asio::ip::address> covered;
  std::set<std::vector<asio::ip::address>> distinct_choices;
  for (int node = 0; node < 20; ++node) {
    auto picked = select_connect_addresses(addresses, 2, "node-" + std::to_string(node));
    covered.insert(picked.begin(), picked.end());
    distinct_choices.insert(picked);
  }
  EXPECT_GE(distinct_choices.size(), 10u) << "nodes should mostly choose differently";
  EXPECT_GE(covered.size(), 9u) << "20 nodes x 2 should cover (almost) all 10 addresses";
}

// The node mesh: 100 nodes resolve the DaemonSet's headless Service (100 addresses, one
// per node) and each connects to 5: about 5 probers per node, 500 series, not 10,000.
TEST(SelectConnectAddresses, AMeshOfAHundredNodesProbesEachNodeAboutNTimes) {
  constexpr std::size_t kNodes = 100, kLimit = 5;
  auto addresses = pod_addresses(kNodes);
  std::map<asio::ip::address, int> probed_by;
  std::size_t series = 0;
  for (std::size_t node = 0; node < kNodes; ++node) {
    auto picked = select_connect_addresses(addresses, kLimit, "ip-10-0-" + std::to_string(node));
    EXPECT_EQ(picked.size(), kLimit);
    series += picked.size();
    for (const auto& a : picked) ++probed_by[a];
  }
  EXPECT_EQ(series, kNodes * kLimit);
  int least = 1000, most = 0;
  for (const auto& a : addresses) {
    least = std::min(least, probed_by[a]);
    most = std::max(most, probed_by[a]);
  }
  std::cout << "[mesh] 100 nodes x max_connect 5: each node probed by " << least << ".." << most
            << " peers\n";
  EXPECT_GE(static_cast<int>(probed_by.size()), 97) << "(almost) every node has a prober";
  EXPECT_LE(most, 15) << "no node is probed by a crowd";
}

TEST(SelectConnectAddresses, ChurnChangesAtMostOneChoice) {
  auto addresses = pod_addresses(12);
  auto before = select_connect_addresses(addresses, 4, "node-a");
  std::set<asio::ip::address> chosen(before.begin(), before.end());
  // An address the node did not choose goes away: the choice stays.
  auto unchosen = std::find_if(addresses.begin(), addresses.end(),
                               [&](const auto& a) { return !chosen.count(a); });
  auto fewer = addresses;
  fewer.erase(fewer.begin() + (unchosen - addresses.begin()));
  EXPECT_EQ(select_connect_addresses(fewer, 4, "node-a"), before);
  // A chosen one goes away: only it is replaced.
  auto without_chosen = addresses;
  without_chosen.erase(std::find(without_chosen.begin(), without_chosen.end(), before[0]));
  auto after = select_connect_addresses(without_chosen, 4, "node-a");
  std::set<asio::ip::address> kept(after.begin(), after.end());
  for (std::size_t i = 1; i < before.size(); ++i) EXPECT_TRUE(kept.count(before[i]));
  // A new address replaces at most one choice.
  auto more = addresses;
  more.push_back(asio::ip::make_address("198.18.9.9"));
  auto grown = select_connect_addresses(more, 4, "node-a");
  int changed = 0;
  for (const auto& a : grown) changed += chosen.count(a) ? 0 : 1;
  EXPECT_LE(changed, 1);
}

}  // namespace
}  // namespace reachprobe
