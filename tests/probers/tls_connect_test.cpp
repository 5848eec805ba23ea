// Path-MTU black holes, reproduced: this process (the node) -- a router -- a TLS server, the
// router's way back to the node limited to 1,280 bytes, as a VPN or tunnel on the path is.
// The server's certificate is far larger than one packet, so its handshake needs full-size
// segments. With ICMP "fragmentation needed" dropped at the router (the fault), the
// handshake stalls and a second connection with small segments completes: the probe says
// so. With ICMP allowed, path-MTU discovery shrinks the server's segments and the probe is
// ok, as a healthy path must be.
#include "probe/probers/tls_connect.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <regex>

#include "probe/check/hints.hpp"
#include "probe/check/remediation.hpp"
#include "probe/probers/http.hpp"
#include "probe/probers/tls.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/run_probe.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/wait.hpp"
#include "tests/support/test_pki.hpp"
#include "tests/support/web_server.hpp"

namespace reachprobe {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

constexpr int kPathMtu = 1280;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// ICMP fragmentation-needed (type 3 code 4) as the router sends it, dropped, as a security
// group or NACL without an ICMP rule does; counted, to prove the router did send it.
const std::string kDropFragNeeded =
    "table inet mtu {\n"
    " chain output { type filter hook output priority 0; "
    "icmp type destination-unreachable icmp code frag-needed counter drop; }\n"
    "}\n";
const std::string kCountFragNeeded =
    "table inet mtu {\n"
    " chain output { type filter hook output priority 0; "
    "icmp type destination-unreachable icmp code frag-needed counter accept; }\n"
    "}\n";

// The packets the frag-needed counter saw.
int frag_needed_sent(const test::RoutedHost& path) {
  std::smatch m;
  const std::string ruleset = path.router_ruleset();
  if (!std::regex_search(ruleset, m, std::regex("frag-needed counter packets ([0-9]+)"))) {
    ADD_FAILURE() << "no counter in the router's ruleset:\n" << ruleset;
    return -1;
  }
  return std::stoi(m[1]);
}

class MtuBlackHoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = test::netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    path_.emplace();
    path_->limit_mtu_toward_client(kPathMtu);
    test::write_file(dir_ / "ca.crt", pki_.ca_pem());
    // 120 names make a certificate of some 4 KB: the server's handshake flight is several
    // full-size segments, none of which fits 1,280 bytes.
    std::vector<std::string> names = {path_->address()};
    for (int i = 0; i < 120; ++i) names.push_back(fmt::format("node-{:03}.mtu.reachprobe.test", i));
    const auto certificate = pki_.issue(names);
    ASSERT_GT(certificate.cert_pem.size(), 3u * kPathMtu);
    server_.emplace(certificate, test::WebServerPlace{path_->address(), path_->netns()});
    resolver_ = std::make_shared<dns::Resolver>(io_, dns::ResolverOptions{});
  }

  std::shared_ptr<Target> target(ProbeType type) const {
    auto t = std::make_shared<Target>();
    t->name = "sts";
    t->type = type;
    t->interval = 10s;
    t->timeout = 2s;
    t->tls = TlsOptions{"", (dir_ / "ca.crt").string(), false};
    if (type == ProbeType::Http) {
      t->url = fmt::format("https://{}:{}/healthz", path_->address(), server_->port());
    } else {
      t->hosts = {path_->address()};
      t->ports = {server_->port()};
    }
    return t;
  }

  CheckRow probe(ProbeType type) {
    auto endpoint = expand_endpoints({target(type)}).front();
    TlsProber tls(resolver_);
    HttpProber http(resolver_);
    Prober& prober = type == ProbeType::Http ? static_cast<Prober&>(http) : tls;
    const auto start = Clock::now();
    CheckRow row{endpoint, test::probe_once(io_, prober, endpoint), {}};
    took_ = since(start);
    row.hint = hint_for(row.endpoint, row.result);
    return row;
  }

  asio::io_context io_;
  std::optional<test::RoutedHost> path_;
  test::TestPki pki_;
  test::TempDir dir_{"tls_connect_test"};
  std::optional<test::TestWebServer> server_;
  std::shared_ptr<dns::Resolver> resolver_;
  Duration took_{};
};

TEST_F(MtuBlackHoleTest, FragmentationNeededDroppedIsProvedAnMtuBlackHole) {
  path_->router_nft(kDropFragNeeded);
  auto row = probe(ProbeType::Tls);
  const auto& r = row.result;
  EXPECT_EQ(r.outcome, Outcome::Timeout) << r.message;
  EXPECT_EQ(r.finding, Finding::MtuBlackHole) << r.message;
  EXPECT_TRUE(has(r.message, "path MTU black hole: the TLS handshake with " + path_->address() +
                                 ":" + std::to_string(server_->port()) +
                                 " completes with 1,000-byte segments, stalls with full-size ones"))
      << r.message;
  // Not by accident: the first connection stalled (accepted, no handshake), the second one,
  // with small segments, completed, and the router did answer the big packets with ICMP.
  EXPECT_EQ(server_->accepted_connections(), 2);
  // The client is done before the server has read its last message.
  EXPECT_TRUE(test::wait_until([&] { return server_->completed_handshakes() == 1; }, 2s));
  EXPECT_GT(frag_needed_sent(*path_), 0);
  // Both attempts within the probe's timeout.
  EXPECT_LT(took_, 2s + 100ms);

  EXPECT_TRUE(has(row.hint, "type 3 code 4")) << row.hint;
  EXPECT_TRUE(has(row.hint, "AWS_VPC_ENI_MTU")) << row.hint;
  EXPECT_TRUE(has(row.hint, "clamp the TCP MSS")) << row.hint;
  auto plan = plan_remediation({row}, nullptr);
  EXPECT_TRUE(plan.rules.empty()) << render_terraform(plan);
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_TRUE(has(plan.skipped[0].why, "MTU black hole")) << plan.skipped[0].why;
}

TEST_F(MtuBlackHoleTest, HttpsSharesTheHandshakeAndTheFinding) {
  path_->router_nft(kDropFragNeeded);
  auto row = probe(ProbeType::Http);
  EXPECT_EQ(row.result.outcome, Outcome::Timeout) << row.result.message;
  EXPECT_EQ(row.result.finding, Finding::MtuBlackHole) << row.result.message;
  EXPECT_EQ(server_->accepted_connections(), 2);
  EXPECT_TRUE(test::wait_until([&] { return server_->completed_handshakes() == 1; }, 2s));
  EXPECT_TRUE(server_->requests().empty()) << "no request goes over the small-segment retry";
}

TEST_F(MtuBlackHoleTest, WithFragmentationNeededAllowedPathMtuDiscoveryWorks) {
  path_->router_nft(kCountFragNeeded);
  auto row = probe(ProbeType::Tls);
  EXPECT_EQ(row.result.outcome, Outcome::Ok) << row.result.message;
  EXPECT_EQ(row.result.finding, Finding::None);
  EXPECT_EQ(server_->accepted_connections(), 1);
  EXPECT_TRUE(test::wait_until([&] { return server_->completed_handshakes() == 1; }, 2s));
  // The path did need discovery: the router told the server to send smaller packets.
  EXPECT_GT(frag_needed_sent(*path_), 0);
}

}  // namespace
}  // namespace reachprobe
