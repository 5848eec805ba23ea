// The dns prober against a real DNS server: dnsmasq from Debian, started by each test on a
// loopback port with only its own records. The same scenarios as dns_test.cpp runs against
// the in-process DnsResponder, so neither a quirk of the responder nor of c-ares hides.

#include <gtest/gtest.h>

#include "probe/probers/dns.hpp"
#include "tests/probers/dns_test_helpers.hpp"
#include "tests/support/dns_responder.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/netns.hpp"

namespace reachprobe {
namespace {

using namespace dns_test;
using test::Dnsmasq;

// 40 A records: more than a 512-byte UDP reply holds, so dnsmasq sets TC.
std::vector<std::string> big_answer_options() {
  std::vector<std::string> out;
  for (int i = 1; i <= 40; ++i)
    out.push_back("--host-record=big.test,198.18.1." + std::to_string(i));
  return out;
}

class DnsmasqTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Dnsmasq::binary().empty()) {
      GTEST_SKIP() << "dnsmasq is not installed (Debian package dnsmasq-base)";
    }
    std::vector<std::string> options = {
        // Every name under test. is answered here: unknown ones are NXDOMAIN.
        "--local=/test/",
        "--host-record=am.monitoring.svc.cluster.test,198.18.0.1",
        "--host-record=am.monitoring.svc.cluster.test,198.18.0.2",
        "--host-record=am.monitoring.svc.cluster.test,198.18.0.3",
        "--host-record=v6.test,::1",
        "--host-record=pods.test,127.0.0.2",
        "--host-record=pods.test,127.0.0.3",
        "--host-record=pods.test,127.0.0.4",
        "--host-record=alertmanager.svc.cluster.test,198.18.0.5",
        "--cname=www.test,am.monitoring.svc.cluster.test",
        "--srv-host=_web._tcp.am.test,am-0.test,9093,10,5",
        "--txt-record=txt.test,v=spf1 -all",
        "--mx-host=mx.test,mail.test,10",
        "--ptr-record=7.0.18.198.in-addr.arpa,host-7.test",
        // Forwarded to the in-process responder, which fails or delays on demand.
        "--server=/upstream.test/" + std::string("127.0.0.1#") + std::to_string(upstream.port()),
    };
    auto big = big_answer_options();
    options.insert(options.end(), big.begin(), big.end());
    server = std::make_unique<Dnsmasq>(options);
    prober =
        std::make_unique<DnsProber>(io, settings({server->server()}, resolv_conf.path()), "node-a");
  }

  ProbeResult probe(std::shared_ptr<Target> target) {
    return probe_once(io, *prober, endpoint_of(std::move(target)));
  }

  asio::io_context io;
  test::DnsResponder upstream;
  TempFile resolv_conf{"options ndots:1\n"};
  std::unique_ptr<Dnsmasq> server;
  std::unique_ptr<DnsProber> prober;
};

TEST_F(DnsmasqTest, AnswerIsOk) {
  auto r = probe(dns_target("am.monitoring.svc.cluster.test."));
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_TRUE(contains(r.message, "3 A records for am.monitoring.svc.cluster.test: ")) << r.message;
  EXPECT_EQ(r.answers, std::optional<std::size_t>(3));
  EXPECT_TRUE(r.phase(Phase::Dns));
  EXPECT_EQ(server->query_count("am.monitoring.svc.cluster.test", "A"), 1) << server->log();
}

TEST_F(DnsmasqTest, NxDomain) {
  auto r = probe(dns_target("missing.test."));
  EXPECT_EQ(r.outcome, Outcome::NxDomain) << r.message;
  EXPECT_EQ(r.answers, std::optional<std::size_t>(0));
}

TEST_F(DnsmasqTest, NoRecordOfTheTypeIsNoAnswer) {
  auto r = probe(dns_target("am.monitoring.svc.cluster.test.", "AAAA"));
  EXPECT_EQ(r.outcome, Outcome::NoAnswer) << r.message;
  EXPECT_TRUE(contains(r.message, "has no AAAA record")) << r.message;
}

TEST_F(DnsmasqTest, NameOutsideItsDomainsIsDnsRefused) {
  // --no-resolv and no server for it: dnsmasq refuses names it has no answer for.
  auto r = probe(dns_target("elsewhere.invalid."));
  EXPECT_EQ(r.outcome, Outcome::DnsRefused) << r.message;
}

TEST_F(DnsmasqTest, UpstreamServfailIsServfail) {
  upstream.set("broken.upstream.test", test::DnsRule::servfail());
  auto r = probe(dns_target("broken.upstream.test."));
  EXPECT_EQ(r.outcome, Outcome::ServFail) << r.message;
  EXPECT_GE(upstream.query_count("broken.upstream.test"), 1);
}

TEST_F(DnsmasqTest, LatencyOfAForwardedQueryIncludesTheUpstreamDelay) {
  constexpr auto kDelay = 80ms;
  upstream.set("slow.upstream.test", test::DnsRule::answer({"198.18.0.8"}).delayed(kDelay));
  auto r = probe(dns_target("slow.upstream.test."));
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  ASSERT_TRUE(r.phase(Phase::Dns));
  EXPECT_GE(*r.phase(Phase::Dns), Duration(kDelay));
  // One query reached the upstream: the phase is that exchange, not a retransmission's
  // wait. The upper bound only rules out a second round; a tight one (it was 15 ms) fails
  // on a loaded 2-core machine, where dnsmasq alone can be descheduled that long.
  EXPECT_EQ(upstream.query_count("slow.upstream.test"), 1);
  EXPECT_LT(*r.phase(Phase::Dns), Duration(kDelay + 500ms));
}

TEST_F(DnsmasqTest, SilentServerIsDnsTimeoutAtTheDeadline) {
  constexpr auto kTimeout = 300ms;
  server->pause();
  auto r = probe(dns_target("am.monitoring.svc.cluster.test.", "A", kTimeout));
  server->resume();
  EXPECT_EQ(r.outcome, Outcome::DnsTimeout) << r.message;
  ASSERT_TRUE(r.phase(Phase::Dns));
  // The phase starts a little after the deadline's clock (more so under sanitizers): it
  // ends at the deadline, not a full timeout after its own start.
  EXPECT_GT(*r.phase(Phase::Dns), Duration(kTimeout * 3 / 4));
  EXPECT_LT(*r.phase(Phase::Dns), Duration(kTimeout + 50ms));
}

TEST_F(DnsmasqTest, TruncatedAnswerIsCompletedOverTcp) {
  auto r = probe(dns_target("big.test."));
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  // 40 records do not fit the 512 bytes of a UDP reply: all of them came over TCP.
  EXPECT_EQ(r.answers, std::optional<std::size_t>(40));
  EXPECT_EQ(server->query_count("big.test", "A"), 2) << "UDP, then TCP\n" << server->log();
}

TEST_F(DnsmasqTest, RecordTypes) {
  struct Case {
    std::string query;
    std::string record;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"v6.test.", "AAAA", "1 AAAA record for v6.test: ::1"},
      {"_web._tcp.am.test.", "SRV", "1 SRV record for _web._tcp.am.test: 10 5 9093 am-0.test"},
      {"txt.test.", "TXT", "1 TXT record for txt.test: v=spf1 -all"},
      {"mx.test.", "MX", "1 MX record for mx.test: 10 mail.test"},
      {"www.test.", "CNAME", "1 CNAME record for www.test: am.monitoring.svc.cluster.test"},
      {"198.18.0.7", "PTR", "1 PTR record for 7.0.18.198.in-addr.arpa: host-7.test"},
  };
  for (const auto& c : cases) {
    auto r = probe(dns_target(c.query, c.record));
    EXPECT_EQ(r.outcome, Outcome::Ok) << c.record << " " << c.query << ": " << r.message;
    EXPECT_EQ(r.message, c.message);
  }
  auto via_alias = probe(dns_target("www.test."));
  EXPECT_EQ(via_alias.outcome, Outcome::Ok) << via_alias.message;
  EXPECT_TRUE(contains(via_alias.message,
                       "3 A records for www.test via CNAME "
                       "am.monitoring.svc.cluster.test: "))
      << via_alias.message;
}

TEST_F(DnsmasqTest, ExpectChecks) {
  auto t = dns_target("am.monitoring.svc.cluster.test.");
  t->expect.min_answers = 3;
  t->expect.contains = {"198.18.0.2"};
  EXPECT_EQ(probe(t).outcome, Outcome::Ok);

  t = dns_target("am.monitoring.svc.cluster.test.");
  t->expect.min_answers = 4;
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Error);
  EXPECT_TRUE(contains(r.message,
                       "expected at least 4 A records for "
                       "am.monitoring.svc.cluster.test, got 3: "))
      << r.message;

  t = dns_target("am.monitoring.svc.cluster.test.");
  t->expect.contains = {"198.18.0.9"};
  r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Error);
  EXPECT_TRUE(contains(r.message, "to contain 198.18.0.9, got: ")) << r.message;
}

TEST_F(DnsmasqTest, SearchListFindsTheNameAndShowsIt) {
  TempFile search_conf{"search monitoring.svc.cluster.test svc.cluster.test\noptions ndots:5\n"};
  DnsProber searching{io, settings({server->server()}, search_conf.path()), "node-a"};
  auto r = probe_once(io, searching, endpoint_of(dns_target("alertmanager")));
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(r.message, "1 A record for alertmanager.svc.cluster.test: 198.18.0.5");
  EXPECT_EQ(server->query_count("alertmanager.monitoring.svc.cluster.test", "A"), 1);
  EXPECT_EQ(server->query_count("alertmanager.svc.cluster.test", "A"), 1);
}

TEST_F(DnsmasqTest, FanOutToEveryAddress) {
  FanOutPorts ports;
  auto t = dns_target("pods.test.", "A", 400ms);
  t->connect_port = ports.port();
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  ASSERT_EQ(r.fanout.size(), 3u);
  const auto* ok = find_fanout(r, "127.0.0.2");
  const auto* refused = find_fanout(r, "127.0.0.3");
  const auto* dropped = find_fanout(r, "127.0.0.4");
  ASSERT_TRUE(ok && refused && dropped);
  EXPECT_EQ(ok->result.outcome, Outcome::Ok) << ok->result.message;
  EXPECT_EQ(refused->result.outcome, Outcome::Refused) << refused->result.message;
  EXPECT_EQ(dropped->result.outcome, Outcome::Timeout) << dropped->result.message;
}

TEST_F(DnsmasqTest, FanOutAcrossHostsOneOpenOneRefusedOneFirewalled) {
  if (auto why = test::netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  FirewalledPods pods;
  const std::string name = "alertmanager-operated.monitoring.svc.cluster.test";
  Dnsmasq with_pods({"--local=/test/", "--host-record=" + name + "," + pods.serving(),
                     "--host-record=" + name + "," + pods.refusing(),
                     "--host-record=" + name + "," + pods.dropping()});
  DnsProber asking{io, settings({with_pods.server()}, resolv_conf.path()), "node-a"};
  auto t = dns_target(name + ".", "A", 500ms);
  t->connect_port = FirewalledPods::kPort;
  auto r = probe_once(io, asking, endpoint_of(t));
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  ASSERT_EQ(r.fanout.size(), 3u);
  const auto* ok = find_fanout(r, pods.serving());
  const auto* refused = find_fanout(r, pods.refusing());
  const auto* dropped = find_fanout(r, pods.dropping());
  ASSERT_TRUE(ok && refused && dropped);
  EXPECT_EQ(ok->result.outcome, Outcome::Ok) << ok->result.message;
  EXPECT_EQ(refused->result.outcome, Outcome::Refused) << refused->result.message;
  EXPECT_EQ(dropped->result.outcome, Outcome::Timeout) << dropped->result.message;
}

}  // namespace
}  // namespace reachprobe
