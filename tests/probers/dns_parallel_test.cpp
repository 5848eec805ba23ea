// dns `parallel_aaaa`: A and AAAA asked at the same moment from one socket, as glibc's
// resolver does; the shape whose lost reply (the conntrack race of a DNAT'd DNS service)
// stalls pods for 5 s while a single query works.
#include <gtest/gtest.h>

#include <set>

#include "probe/probers/dns.hpp"
#include "tests/probers/dns_prober_test.hpp"
#include "tests/probers/dns_test_helpers.hpp"
#include "tests/support/dns_responder.hpp"

namespace reachprobe {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::DnsRule;
using namespace dns_test;

class DnsParallelTest : public DnsProberTest {};

TEST_F(DnsParallelTest, BothQueriesLeaveOneSocketAndAnEmptyAaaaIsFine) {
  dns.set("kubernetes.default.svc.cluster.test", DnsRule::answer({"198.18.0.1"}));
  auto target = dns_target("kubernetes.default.svc.cluster.test.");
  target->parallel_aaaa = true;
  auto r = probe(target);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_TRUE(contains(r.message,
                       "1 A record for kubernetes.default.svc.cluster.test: "
                       "198.18.0.1; the AAAA query sent with it from the same socket "
                       "was answered in"))
      << r.message;
  const auto queries = dns.queries();
  ASSERT_EQ(queries.size(), 2u);
  std::set<std::uint16_t> types = {queries[0].type, queries[1].type};
  EXPECT_EQ(types, (std::set<std::uint16_t>{test::kDnsTypeA, test::kDnsTypeAaaa}));
  EXPECT_NE(queries[0].source_port, 0);
  EXPECT_EQ(queries[0].source_port, queries[1].source_port) << "one socket, one 5-tuple";
}

TEST_F(DnsParallelTest, ALostAaaaReplyIsADnsTimeoutNamingTheRace) {
  auto rule = DnsRule::answer({"198.18.0.1"});
  rule.drop_types = {test::kDnsTypeAaaa};
  dns.set("kubernetes.default.svc.cluster.test", rule);
  auto target = dns_target("kubernetes.default.svc.cluster.test.", "A", 400ms);
  target->parallel_aaaa = true;
  auto r = probe(target);
  EXPECT_EQ(r.outcome, Outcome::DnsTimeout) << r.message;
  EXPECT_TRUE(contains(r.message,
                       "the A query was answered but the AAAA query sent with it "
                       "from the same socket got no reply"))
      << r.message;
  EXPECT_TRUE(contains(r.message, "conntrack race")) << r.message;
  // The same name asked for A alone works: only the parallel shape fails.
  target->parallel_aaaa = false;
  EXPECT_EQ(probe(target).outcome, Outcome::Ok);
}

}  // namespace
}  // namespace reachprobe
