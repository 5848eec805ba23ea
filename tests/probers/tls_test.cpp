#include "probe/probers/tls.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <filesystem>

#include "tests/support/dns_responder.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/run_probe.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"
#include "tests/support/wait.hpp"
#include "tests/support/web_server.hpp"

namespace reachprobe {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using test::probe_once;
using test::TestPki;
using test::TestWebServer;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class TlsProberTest : public ::testing::Test {
 protected:
  TlsProberTest() {
    test::write_file(ca_file(), pki_.ca_pem());
    dns::ResolverOptions options;
    options.servers = {dns_.server()};
    options.attempt_timeout = 300ms;
    resolver_ = std::make_shared<dns::Resolver>(io_, options);
    prober_ = std::make_unique<TlsProber>(resolver_);
  }

  std::string ca_file() const { return (dir_ / "ca.crt").string(); }

  ProbeResult probe(const std::string& host, std::uint16_t port, std::optional<TlsOptions> tls,
                    Duration timeout = 2s) {
    auto t = std::make_shared<Target>();
    t->name = "sts";
    t->type = ProbeType::Tls;
    t->hosts = {host};
    t->ports = {port};
    t->interval = 10s;
    t->timeout = timeout;
    t->tls = std::move(tls);
    return probe_once(io_, *prober_, Endpoint{t, host, port, join_host_port(host, port)});
  }

  TlsOptions trusting_test_ca(std::string server_name = "sts.test") const {
    return TlsOptions{std::move(server_name), ca_file(), false};
  }

  asio::io_context io_;
  test::DnsResponder dns_;
  TestPki pki_;
  test::TempDir dir_{"tls_test"};
  std::shared_ptr<dns::Resolver> resolver_;
  std::unique_ptr<TlsProber> prober_;
};

TEST_F(TlsProberTest, AValidChainForTheServerNameIsOk) {
  TestWebServer server(pki_.issue({"sts.test"}, -1h, 24h * 30));
  auto r = probe("127.0.0.1", server.port(), trusting_test_ca());
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(r.address, "127.0.0.1");
  EXPECT_TRUE(r.phase(Phase::Connect));
  ASSERT_TRUE(r.phase(Phase::Tls));
  ASSERT_TRUE(r.phase(Phase::Total));
  EXPECT_LE(*r.phase(Phase::Tls), *r.phase(Phase::Total));
  EXPECT_FALSE(r.phase(Phase::Dns)) << "an IP literal is not resolved";
  ASSERT_TRUE(r.cert_not_after);
  const auto expected = std::chrono::system_clock::now() + 24h * 30;
  EXPECT_LT(std::chrono::abs(*r.cert_not_after - expected), 5min);
  EXPECT_TRUE(contains(r.message, "CN=sts.test")) << r.message;
  EXPECT_TRUE(contains(r.message, "(29 days left)") || contains(r.message, "(30 days left)"))
      << r.message;
  // The server completes its side once the client's Finished arrives, on its own thread.
  EXPECT_TRUE(test::wait_until([&] { return server.completed_handshakes() == 1; }, 5s));
}

TEST_F(TlsProberTest, TheHostNameIsResolvedAndSentAsServerName) {
  dns_.set("sts.test", test::DnsRule::answer({"127.0.0.1"}));
  TestWebServer server(pki_.issue({"sts.test"}));
  auto r = probe("sts.test.", server.port(), TlsOptions{"", ca_file(), false});
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_TRUE(r.phase(Phase::Dns));
  EXPECT_TRUE(r.phase(Phase::Connect));
  EXPECT_TRUE(r.phase(Phase::Tls));
}

TEST_F(TlsProberTest, AnIpAddressIsMatchedAgainstTheCertificatesIpNames) {
  TestWebServer server(pki_.issue({"127.0.0.1"}));
  auto r = probe("127.0.0.1", server.port(), TlsOptions{"", ca_file(), false});
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
}

TEST_F(TlsProberTest, AnUnknownCaIsATlsErrorNamingTheIssuer) {
  TestPki interceptor("corporate proxy CA");
  TestWebServer server(interceptor.issue({"sts.test"}));
  auto r = probe("127.0.0.1", server.port(), trusting_test_ca());
  EXPECT_EQ(r.outcome, Outcome::TlsError);
  EXPECT_TRUE(contains(r.message, "unknown CA")) << r.message;
  EXPECT_TRUE(contains(r.message, "CN=corporate proxy CA")) << r.message;
  EXPECT_TRUE(contains(r.message, "ca_file " + ca_file())) << r.message;
  EXPECT_TRUE(r.phase(Phase::Tls));
  EXPECT_TRUE(r.cert_not_after) << "the certificate was presented, even if refused";
}

TEST_F(TlsProberTest, TheSystemTrustStoreDoesNotKnowATestCa) {
  TestWebServer server(pki_.issue({"sts.test"}));
  auto r = probe("127.0.0.1", server.port(), TlsOptions{"sts.test", "", false});
  EXPECT_EQ(r.outcome, Outcome::TlsError);
  EXPECT_TRUE(contains(r.message, "the system trust store does not trust")) << r.message;
}

TEST_F(TlsProberTest, AnExpiredCertificateIsATlsErrorWithItsEndDate) {
  TestWebServer server(pki_.issue({"sts.test"}, -48h, -24h));
  auto r = probe("127.0.0.1", server.port(), trusting_test_ca());
  EXPECT_EQ(r.outcome, Outcome::TlsError);
  EXPECT_TRUE(contains(r.message, "certificate expired: CN=sts.test was valid until")) << r.message;
  ASSERT_TRUE(r.cert_not_after);
  EXPECT_LT(*r.cert_not_after, std::chrono::system_clock::now());
}

TEST_F(TlsProberTest, ACertificateForAnotherNameIsAHostnameMismatch) {
  TestWebServer server(pki_.issue({"other.test", "198.18.0.9"}));
  auto r = probe("127.0.0.1", server.port(), trusting_test_ca("sts.test"));
  EXPECT_EQ(r.outcome, Outcome::TlsError);
  EXPECT_TRUE(contains(r.message, "hostname mismatch: the certificate is not valid for 'sts.test'"))
      << r.message;
  EXPECT_TRUE(contains(r.message, "names: other.test, 198.18.0.9")) << r.message;
}

TEST_F(TlsProberTest, InsecureSkipVerifyAcceptsAnyCertificate) {
  TestPki unknown("somebody else");
  TestWebServer server(unknown.issue({"other.test"}, -48h, -24h));
  auto r = probe("127.0.0.1", server.port(), TlsOptions{"sts.test", "", true});
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_TRUE(r.cert_not_after);
}

TEST_F(TlsProberTest, AListenerThatNeverSpeaksTlsIsATimeoutInTheTlsPhase) {
  // Listening without accepting: the kernel completes the TCP handshake, nobody answers.
  tcp::acceptor silent(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  constexpr auto kTimeout = 300ms;
  auto r = probe("127.0.0.1", silent.local_endpoint().port(), trusting_test_ca(), kTimeout);
  EXPECT_EQ(r.outcome, Outcome::Timeout) << r.message;
  EXPECT_TRUE(contains(r.message, "TLS handshake with 127.0.0.1:")) << r.message;
  EXPECT_TRUE(contains(r.message, "stalled")) << r.message;
  // A second connection with small segments stalls too: a hung server, not the path's MTU.
  EXPECT_TRUE(contains(r.message,
                       "with 1,000-byte segments on a second connection, so not a "
                       "path-MTU problem"))
      << r.message;
  EXPECT_EQ(r.finding, Finding::None);
  ASSERT_TRUE(r.phase(Phase::Connect));
  ASSERT_TRUE(r.phase(Phase::Tls));
  // The wait is in the tls phase (the connect is immediate), bounded by the deadline.
  EXPECT_GT(*r.phase(Phase::Tls), Duration(kTimeout / 2));
  EXPECT_LT(*r.phase(Phase::Tls), Duration(kTimeout + 200ms));
}

TEST_F(TlsProberTest, APlainHttpPortIsATlsErrorSayingItIsNotTls) {
  TestWebServer plain;
  auto r = probe("127.0.0.1", plain.port(), trusting_test_ca());
  EXPECT_EQ(r.outcome, Outcome::TlsError) << r.message;
  EXPECT_TRUE(contains(r.message, "does not speak TLS") ||
              contains(r.message, "closed the connection before the handshake completed"))
      << r.message;
}

TEST_F(TlsProberTest, ARefusedPortIsRefusedBeforeAnyTls) {
  test::ClosedTcpPort closed;
  auto r = probe("127.0.0.1", closed.port(), trusting_test_ca());
  EXPECT_EQ(r.outcome, Outcome::Refused);
  EXPECT_FALSE(r.phase(Phase::Tls));
}

TEST_F(TlsProberTest, AnUnreadableCaFileIsAnErrorWithoutConnecting) {
  TestWebServer server(pki_.issue({"sts.test"}));
  auto r = probe("127.0.0.1", server.port(),
                 TlsOptions{"sts.test", (dir_ / "missing.crt").string(), false});
  EXPECT_EQ(r.outcome, Outcome::Error);
  EXPECT_TRUE(contains(r.message, "cannot load ca_file " + (dir_ / "missing.crt").string()))
      << r.message;
  EXPECT_FALSE(r.phase(Phase::Connect));
  EXPECT_EQ(server.completed_handshakes(), 0);
}

}  // namespace
}  // namespace reachprobe
