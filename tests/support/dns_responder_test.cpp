#include "tests/support/dns_responder.hpp"

#include <arpa/nameser.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "probe/dns/ares_channel.hpp"

namespace reachprobe::test {
namespace {

using namespace std::chrono_literals;

void store_status(void* arg, int status, int /*timeouts*/, unsigned char* /*abuf*/, int /*alen*/) {
  *static_cast<std::optional<int>*>(arg) = status;
}

class DnsResponderTest : public ::testing::Test {
 protected:
  DnsResponder dns_;
  boost::asio::io_context io_;
  dns::AresChannel channel_{io_, options(dns_)};

  static dns::AresChannelOptions options(const DnsResponder& dns) {
    dns::AresChannelOptions options;
    options.servers = {dns.server()};
    return options;
  }

  void send(const std::string& name, int type, std::optional<int>& status) {
    ares_query(channel_.get(), name.c_str(), ns_c_in, type, &store_status, &status);
    channel_.schedule_timeouts();
  }

  void run_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    for (int rounds = 0; rounds < 100000 && !done() && std::chrono::steady_clock::now() < end;
         ++rounds) {
      if (io_.stopped()) io_.restart();
      io_.run_one_for(10ms);
    }
  }
};

TEST_F(DnsResponderTest, DelayedAnswerDoesNotHoldUpOthers) {
  dns_.set("slow.test", DnsRule::answer({"198.18.0.1"}).delayed(500ms));
  dns_.set("fast.test", DnsRule::answer({"198.18.0.2"}));
  std::optional<int> slow;
  std::optional<int> fast;
  const auto started = std::chrono::steady_clock::now();
  send("slow.test", ns_t_a, slow);
  send("fast.test", ns_t_a, fast);
  run_until([&] { return fast.has_value(); }, 2s);
  ASSERT_EQ(fast, ARES_SUCCESS);
  EXPECT_FALSE(slow.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 400ms);
  run_until([&] { return slow.has_value(); }, 2s);
  EXPECT_EQ(slow, ARES_SUCCESS);
}

TEST_F(DnsResponderTest, CountsQueriesPerNameAndTransportCaseInsensitively) {
  dns_.set("Big.Test.", DnsRule::answer({"198.18.0.3"}).truncated());
  std::optional<int> big;
  std::optional<int> other;
  send("BIG.test", ns_t_a, big);
  send("other.test", ns_t_aaaa, other);
  run_until([&] { return big.has_value() && other.has_value(); }, 2s);
  EXPECT_EQ(big, ARES_SUCCESS);
  EXPECT_EQ(other, ARES_ENOTFOUND);  // no rule: NXDOMAIN
  EXPECT_EQ(dns_.query_count("big.test", DnsTransport::Udp), 1);
  EXPECT_EQ(dns_.query_count("big.test", DnsTransport::Tcp), 1);
  EXPECT_EQ(dns_.query_count("other.test"), 1);
  EXPECT_EQ(dns_.total_queries(), 3);
  auto log = dns_.queries();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log.back().transport, DnsTransport::Tcp);
  EXPECT_EQ(log.back().type, kDnsTypeA);
}

TEST_F(DnsResponderTest, EmptyRuleIsNoDataAndRefusedIsRefused) {
  dns_.set("empty.test", DnsRule::empty());
  dns_.set("acl.test", DnsRule::refused());
  std::optional<int> empty;
  std::optional<int> refused;
  send("empty.test", ns_t_a, empty);
  send("acl.test", ns_t_a, refused);
  run_until([&] { return empty.has_value() && refused.has_value(); }, 2s);
  EXPECT_EQ(empty, ARES_ENODATA);
  EXPECT_EQ(refused, ARES_EREFUSED);
}

}  // namespace
}  // namespace reachprobe::test
