#include "probe/dns/ares_channel.hpp"

#include <arpa/nameser.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/dns_responder.hpp"

namespace reachprobe::dns {
namespace {

using namespace std::chrono_literals;
using test::DnsRule;

// What a raw query's callback received.
struct RawAnswer {
  int status = -1;
  std::vector<unsigned char> message;
};

void store_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* answer = static_cast<std::optional<RawAnswer>*>(arg);
  answer->emplace();
  (*answer)->status = status;
  if (abuf != nullptr) (*answer)->message.assign(abuf, abuf + alen);
}

class AresChannelTest : public ::testing::Test {
 protected:
  test::DnsResponder dns_;
  boost::asio::io_context io_;

  // A raw query the way a DNS prober sends one, driven by the io_context alone.
  std::optional<RawAnswer> query(AresChannel& channel, const std::string& name, int type) {
    std::optional<RawAnswer> answer;
    ares_query(channel.get(), name.c_str(), ns_c_in, type, &store_answer, &answer);
    channel.schedule_timeouts();
    const auto end = std::chrono::steady_clock::now() + 3s;
    for (int rounds = 0; rounds < 100000 && !answer && std::chrono::steady_clock::now() < end;
         ++rounds) {
      if (io_.stopped()) io_.restart();
      io_.run_one_for(100ms);
    }
    return answer;
  }

  AresChannelOptions options() const {
    return AresChannelOptions{.servers = {dns_.server()}, .resolv_conf_path = "", .lookups = "b"};
  }
};

TEST_F(AresChannelTest, RawSrvQuery) {
  DnsRule rule;
  rule.srv = {{10, 5, 9093, "am-0.test"}, {20, 0, 9094, "am-1.test"}};
  dns_.set("_web._tcp.am.test", rule);
  AresChannel channel(io_, options());
  auto answer = query(channel, "_web._tcp.am.test", ns_t_srv);
  ASSERT_TRUE(answer.has_value());
  ASSERT_EQ(answer->status, ARES_SUCCESS) << ares_strerror(answer->status);
  ares_srv_reply* replies = nullptr;
  ASSERT_EQ(ares_parse_srv_reply(answer->message.data(), static_cast<int>(answer->message.size()),
                                 &replies),
            ARES_SUCCESS);
  std::vector<std::string> seen;
  for (auto* r = replies; r != nullptr; r = r->next) {
    seen.push_back(std::string(r->host) + ":" + std::to_string(r->port) + "/" +
                   std::to_string(r->priority) + "/" + std::to_string(r->weight));
  }
  ares_free_data(replies);
  EXPECT_EQ(seen, (std::vector<std::string>{"am-0.test:9093/10/5", "am-1.test:9094/20/0"}));
}

TEST_F(AresChannelTest, RawTxtQuery) {
  DnsRule rule;
  rule.txt = {"v=1", std::string(300, 'x')};
  dns_.set("txt.test", rule);
  AresChannel channel(io_, options());
  auto answer = query(channel, "txt.test", ns_t_txt);
  ASSERT_TRUE(answer.has_value());
  ASSERT_EQ(answer->status, ARES_SUCCESS) << ares_strerror(answer->status);
  ares_txt_ext* replies = nullptr;
  ASSERT_EQ(ares_parse_txt_reply_ext(answer->message.data(),
                                     static_cast<int>(answer->message.size()), &replies),
            ARES_SUCCESS);
  // c-ares lists each character-string; a record's first one has record_start set.
  std::vector<std::string> records;
  for (auto* r = replies; r != nullptr; r = r->next) {
    std::string text(reinterpret_cast<const char*>(r->txt), r->length);
    if (r->record_start || records.empty()) {
      records.push_back(text);
    } else {
      records.back() += text;
    }
  }
  ares_free_data(replies);
  EXPECT_EQ(records, (std::vector<std::string>{"v=1", std::string(300, 'x')}));
}

TEST_F(AresChannelTest, RawQueryReportsRcode) {
  dns_.set("broken.test", DnsRule::servfail());
  AresChannel channel(io_, options());
  auto nx = query(channel, "gone.test", ns_t_a);
  ASSERT_TRUE(nx.has_value());
  EXPECT_EQ(nx->status, ARES_ENOTFOUND);
  auto servfail = query(channel, "broken.test", ns_t_a);
  ASSERT_TRUE(servfail.has_value());
  EXPECT_EQ(servfail->status, ARES_ESERVFAIL);
}

TEST_F(AresChannelTest, DestructionEndsQueriesInFlight) {
  dns_.set("void.test", DnsRule::drop());
  std::optional<RawAnswer> answer;
  {
    AresChannel channel(io_, options());
    ares_query(channel.get(), "void.test", ns_c_in, ns_t_a, &store_answer, &answer);
    channel.schedule_timeouts();
    for (int rounds = 0; rounds < 1000 && dns_.query_count("void.test") == 0; ++rounds) {
      io_.run_one_for(10ms);
    }
    ASSERT_EQ(dns_.query_count("void.test"), 1);
  }
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, ARES_EDESTRUCTION);
  // Waits and timers the channel left behind run without effect.
  io_.restart();
  io_.run_for(50ms);
}

TEST(NormalizeDnsServer, AcceptsAddressesWithAndWithoutPort) {
  EXPECT_EQ(normalize_dns_server("10.0.0.1"), "10.0.0.1:53");
  EXPECT_EQ(normalize_dns_server("10.0.0.1:5353"), "10.0.0.1:5353");
  EXPECT_EQ(normalize_dns_server("fd00::1"), "[fd00::1]:53");
  EXPECT_EQ(normalize_dns_server("[fd00::1]"), "[fd00::1]:53");
  EXPECT_EQ(normalize_dns_server("[fd00::1]:5353"), "[fd00::1]:5353");
}

TEST(NormalizeDnsServer, RejectsGarbageWithAClearMessage) {
  try {
    normalize_dns_server("kube-dns:53");
    FAIL() << "accepted a name";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "DNS server \"kube-dns:53\": \"kube-dns\" is not an IP address (expected IP, "
                 "IP:PORT or [IPv6]:PORT)");
  }
  EXPECT_THROW(normalize_dns_server("10.0.0.1:99999"), std::invalid_argument);
  EXPECT_THROW(normalize_dns_server("10.0.0.1:-1"), std::invalid_argument);
  EXPECT_THROW(normalize_dns_server(" 10.0.0.1"), std::invalid_argument);
}

}  // namespace
}  // namespace reachprobe::dns
