#include "probe/dns/message.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace reachprobe::dns {
namespace {

using Bytes = std::vector<unsigned char>;

void put16(Bytes& out, unsigned value) {
  out.push_back(static_cast<unsigned char>(value >> 8));
  out.push_back(static_cast<unsigned char>(value));
}

void put_name(Bytes& out, const std::string& name) {
  std::size_t start = 0;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(static_cast<unsigned char>(dot - start));
    out.insert(out.end(), name.begin() + static_cast<long>(start),
               name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  out.push_back(0);
}

// A reply header and question; answers are appended by the test.
Bytes reply_to(const std::string& name, unsigned type, unsigned answers, unsigned rcode = 0,
               bool truncated = false) {
  Bytes out;
  put16(out, 0x1234);
  out.push_back(static_cast<unsigned char>(0x84 | (truncated ? 0x02 : 0)));
  out.push_back(static_cast<unsigned char>(0x80 | rcode));
  put16(out, 1);
  put16(out, answers);
  put16(out, 0);
  put16(out, 0);
  put_name(out, name);
  put16(out, type);
  put16(out, 1);
  return out;
}

// An answer record whose owner is a compression pointer to the question name (offset 12).
void answer(Bytes& out, unsigned type, const Bytes& data, unsigned ttl = 300) {
  out.push_back(0xC0);
  out.push_back(12);
  put16(out, type);
  put16(out, 1);
  put16(out, ttl >> 16);
  put16(out, ttl & 0xFFFF);
  put16(out, static_cast<unsigned>(data.size()));
  out.insert(out.end(), data.begin(), data.end());
}

Bytes name_data(const std::string& name) {
  Bytes out;
  put_name(out, name);
  return out;
}

Reply parse_ok(const Bytes& message) {
  auto parsed = parse_reply(message.data(), message.size());
  EXPECT_TRUE(parsed.reply.has_value()) << parsed.error;
  return parsed.reply.value_or(Reply{});
}

TEST(DnsMessage, ARecordsWithCompressedOwners) {
  auto message = reply_to("svc.cluster.test", 1, 2);
  answer(message, 1, {127, 0, 0, 2});
  answer(message, 1, {198, 18, 0, 1}, 30);
  auto reply = parse_ok(message);
  EXPECT_EQ(reply.question, "svc.cluster.test");
  EXPECT_EQ(reply.question_type, 1);
  EXPECT_EQ(reply.rcode, 0);
  EXPECT_FALSE(reply.truncated);
  ASSERT_EQ(reply.answers.size(), 2u);
  EXPECT_EQ(reply.answers[0].owner, "svc.cluster.test");
  EXPECT_EQ(reply.answers[0].text, "127.0.0.2");
  ASSERT_TRUE(reply.answers[0].address);
  EXPECT_EQ(reply.answers[0].address->to_string(), "127.0.0.2");
  EXPECT_EQ(reply.answers[1].ttl, 30u);
  EXPECT_EQ(reply.of_asked_type().size(), 2u);
}

TEST(DnsMessage, AaaaRecord) {
  auto message = reply_to("v6.test", 28, 1);
  Bytes loopback(16, 0);
  loopback[15] = 1;
  answer(message, 28, loopback);
  auto reply = parse_ok(message);
  ASSERT_EQ(reply.answers.size(), 1u);
  EXPECT_EQ(reply.answers[0].text, "::1");
  EXPECT_TRUE(reply.answers[0].address->is_v6());
}

TEST(DnsMessage, CnameChainIsKeptButNotOfTheAskedType) {
  auto message = reply_to("alias.test", 1, 2);
  answer(message, 5, name_data("real.test"));
  // The A record's owner is the CNAME target, written out in full.
  put_name(message, "real.test");
  put16(message, 1);
  put16(message, 1);
  put16(message, 0);
  put16(message, 60);
  put16(message, 4);
  message.insert(message.end(), {127, 0, 0, 9});
  auto reply = parse_ok(message);
  ASSERT_EQ(reply.answers.size(), 2u);
  EXPECT_EQ(reply.answers[0].type, 5);
  EXPECT_EQ(reply.answers[0].target_name, "real.test");
  EXPECT_EQ(reply.answers[1].owner, "real.test");
  auto asked = reply.of_asked_type();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0]->text, "127.0.0.9");
}

TEST(DnsMessage, SrvMxNsPtrSoaTxtCaaInPresentationForm) {
  Bytes srv;
  put16(srv, 10);
  put16(srv, 5);
  put16(srv, 9093);
  put_name(srv, "am-0.test");
  Bytes mx;
  put16(mx, 20);
  put_name(mx, "mail.test");
  Bytes soa = name_data("ns1.test");
  put_name(soa, "hostmaster.test");
  for (unsigned n : {2024u, 3600u, 600u, 86400u, 30u}) {
    put16(soa, n >> 16);
    put16(soa, n & 0xFFFF);
  }
  Bytes txt = {5, 'v', '=', 's', 'p', 'f', 3, ' ', 'o', 'k'};
  Bytes caa = {0, 5, 'i', 's', 's', 'u', 'e', 'c', 'a', '.', 't', 'e', 's', 't'};

  struct Case {
    unsigned type;
    Bytes data;
    std::string text;
    std::string target_name;
  };
  const std::vector<Case> cases = {
      {33, srv, "10 5 9093 am-0.test", "am-0.test"},
      {15, mx, "20 mail.test", "mail.test"},
      {2, name_data("ns1.test"), "ns1.test", "ns1.test"},
      {12, name_data("host.test"), "host.test", "host.test"},
      {6, soa, "ns1.test hostmaster.test 2024 3600 600 86400 30", "ns1.test"},
      {16, txt, "v=spf ok", ""},
      {257, caa, "0 issue ca.test", ""},
  };
  for (const auto& c : cases) {
    auto message = reply_to("q.test", c.type, 1);
    answer(message, c.type, c.data);
    auto reply = parse_ok(message);
    ASSERT_EQ(reply.answers.size(), 1u) << record_type_name(static_cast<std::uint16_t>(c.type));
    EXPECT_EQ(reply.answers[0].text, c.text);
    EXPECT_EQ(reply.answers[0].target_name, c.target_name);
  }
}

TEST(DnsMessage, RcodeAndTruncationBitAreRead) {
  auto reply = parse_ok(reply_to("gone.test", 1, 0, 3, true));
  EXPECT_EQ(reply.rcode, 3);
  EXPECT_TRUE(reply.truncated);
  EXPECT_TRUE(reply.answers.empty());
}

TEST(DnsMessage, BrokenRepliesAreErrorsNotCrashes) {
  auto good = reply_to("svc.test", 1, 1);
  answer(good, 1, {127, 0, 0, 1});

  // Cut at every length: each prefix shorter than the whole is rejected.
  for (std::size_t size = 0; size < good.size(); ++size) {
    auto parsed = parse_reply(good.data(), size);
    EXPECT_FALSE(parsed.reply.has_value()) << "prefix of " << size << " bytes";
    EXPECT_FALSE(parsed.error.empty());
  }

  auto wrong_length = reply_to("svc.test", 1, 1);
  answer(wrong_length, 1, {127, 0, 0});  // an A record of 3 bytes
  auto parsed = parse_reply(wrong_length.data(), wrong_length.size());
  EXPECT_FALSE(parsed.reply.has_value());
  EXPECT_NE(parsed.error.find("malformed A record"), std::string::npos) << parsed.error;

  auto looping = reply_to("svc.test", 2, 1);
  answer(looping, 2, {0xC0, static_cast<unsigned char>(looping.size() + 12)});  // points at itself
  EXPECT_FALSE(parse_reply(looping.data(), looping.size()).reply.has_value());

  EXPECT_FALSE(parse_reply(nullptr, 0).reply.has_value());
}

TEST(DnsMessage, RecordTypeNames) {
  EXPECT_EQ(parse_record_type("aaaa"), RecordType::AAAA);
  EXPECT_EQ(parse_record_type("SRV"), RecordType::SRV);
  EXPECT_EQ(parse_record_type("CAA"), RecordType::CAA);
  EXPECT_FALSE(parse_record_type("AXFR").has_value());
  EXPECT_EQ(record_type_name(15), "MX");
  EXPECT_EQ(record_type_name(65), "TYPE65");
}

TEST(DnsMessage, ReverseNames) {
  EXPECT_EQ(reverse_name(boost::asio::ip::make_address("10.100.0.10")),
            "10.0.100.10.in-addr.arpa.");
  EXPECT_EQ(reverse_name(boost::asio::ip::make_address("2001:db8::1")),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.");
}

TEST(DnsMessage, SearchCandidatesFollowNdots) {
  const std::vector<std::string> domains = {"monitoring.svc.cluster.local", "svc.cluster.local"};
  // Fewer dots than ndots: the search domains first, the name itself last.
  EXPECT_EQ(search_candidates("alertmanager-operated", domains, 5),
            (std::vector<std::string>{"alertmanager-operated.monitoring.svc.cluster.local",
                                      "alertmanager-operated.svc.cluster.local",
                                      "alertmanager-operated"}));
  // Enough dots: the name itself first.
  EXPECT_EQ(search_candidates("a.b", domains, 1),
            (std::vector<std::string>{"a.b", "a.b.monitoring.svc.cluster.local",
                                      "a.b.svc.cluster.local"}));
  // Absolute: only itself.
  EXPECT_EQ(search_candidates("a.", domains, 5), (std::vector<std::string>{"a."}));
  EXPECT_EQ(search_candidates("a", {}, 1), (std::vector<std::string>{"a"}));
}

}  // namespace
}  // namespace reachprobe::dns
