#include "probe/probers/http.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>

#include "tests/support/run_probe.hpp"
#include "tests/support/test_pki.hpp"
#include "tests/support/web_server.hpp"

namespace reachprobe {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::probe_once;
using test::TestPki;
using test::TestWebServer;
using test::WebReply;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class HttpProberTest : public ::testing::Test {
 protected:
  HttpProberTest() {
    dir_ = fs::temp_directory_path() /
           ("http_test." + std::to_string(::getpid()) + "." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    test::write_file(dir_ / "ca.crt", pki_.ca_pem());
    // Every URL here is an IP literal: the resolver is never asked.
    resolver_ = std::make_shared<dns::Resolver>(io_, dns::ResolverOptions{});
    prober_ = std::make_unique<HttpProber>(resolver_);
  }
  ~HttpProberTest() override { fs::remove_all(dir_); }

  std::shared_ptr<Target> target(const std::string& url, Duration timeout = 2s) {
    auto t = std::make_shared<Target>();
    t->name = "api";
    t->type = ProbeType::Http;
    t->url = url;
    t->interval = 10s;
    t->timeout = timeout;
    return t;
  }
  ProbeResult probe(const std::shared_ptr<Target>& t) {
    return probe_once(io_, *prober_, Endpoint{t, "", 0, t->url});
  }
  std::string url(const TestWebServer& server, const std::string& path, bool https = false) {
    return (https ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(server.port()) +
           path;
  }

  asio::io_context io_;
  TestPki pki_;
  fs::path dir_;
  std::shared_ptr<dns::Resolver> resolver_;
  std::unique_ptr<HttpProber> prober_;
};

TEST_F(HttpProberTest, A200IsOkWithConnectFirstByteAndTotal) {
  TestWebServer server;
  auto r = probe(target(url(server, "/healthz?verbose=1")));
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(r.http_status, std::optional<int>(200));
  EXPECT_EQ(r.message, "HTTP 200 OK");
  EXPECT_EQ(r.address, "127.0.0.1");
  EXPECT_TRUE(r.phase(Phase::Connect));
  EXPECT_TRUE(r.phase(Phase::FirstByte));
  EXPECT_TRUE(r.phase(Phase::Total));
  EXPECT_FALSE(r.phase(Phase::Tls));
  EXPECT_FALSE(r.phase(Phase::Dns));
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, "/healthz?verbose=1");
  EXPECT_EQ(requests[0].headers["host"], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_TRUE(requests[0].headers["user-agent"].starts_with("reachprobe/"));
  EXPECT_EQ(requests[0].headers.count("authorization"), 0u);
}

TEST_F(HttpProberTest, A503IsBadStatusWithTheStatusAndTheBodyInTheMessage) {
  TestWebServer server;
  server.set_reply("/readyz", WebReply{503, "[-]etcd failed: reason withheld\n\n", 0ms, {}});
  auto r = probe(target(url(server, "/readyz")));
  EXPECT_EQ(r.outcome, Outcome::BadStatus);
  EXPECT_EQ(r.http_status, std::optional<int>(503));
  EXPECT_EQ(r.message, "HTTP 503 Service Unavailable from " + url(server, "/readyz") +
                           ", expected 2xx: [-]etcd failed: reason withheld");
  EXPECT_FALSE(r.phase(Phase::Tls));
  EXPECT_TRUE(r.phase(Phase::FirstByte)) << "the phases of a failed probe are kept for check";
}

TEST_F(HttpProberTest, ExpectStatusReplacesAny2xx) {
  TestWebServer server;
  server.set_reply("/", WebReply{403, "forbidden", 0ms, {}});
  auto t = target(url(server, "/"));
  t->expect_status = {401, 403};
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  t->expect_status = {401};
  r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::BadStatus);
  EXPECT_TRUE(contains(r.message, "expected 401: forbidden")) << r.message;
}

TEST_F(HttpProberTest, TheFirstBytePhaseMeasuresTheServersDelay) {
  TestWebServer server;
  constexpr auto kDelay = 150ms;
  server.set_reply("/slow", WebReply{200, "late", kDelay, {}});
  auto r = probe(target(url(server, "/slow")));
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  ASSERT_TRUE(r.phase(Phase::FirstByte));
  ASSERT_TRUE(r.phase(Phase::Connect));
  EXPECT_GE(*r.phase(Phase::FirstByte), Duration(kDelay));
  // The delay is in first_byte, not in connect: loopback connects take microseconds.
  EXPECT_LT(*r.phase(Phase::Connect), Duration(kDelay / 2));
  EXPECT_LT(*r.phase(Phase::FirstByte), Duration(kDelay + 100ms));
}

TEST_F(HttpProberTest, AServerThatNeverAnswersIsATimeoutWhileWaitingForTheResponse) {
  TestWebServer server;
  server.set_reply("/hang", WebReply{200, "too late", 5s, {}});
  constexpr auto kTimeout = 300ms;
  auto r = probe(target(url(server, "/hang"), kTimeout));
  EXPECT_EQ(r.outcome, Outcome::Timeout);
  EXPECT_TRUE(contains(r.message, "waiting for the response from 127.0.0.1:")) << r.message;
  ASSERT_TRUE(r.phase(Phase::FirstByte));
  // The wait is for the first byte, bounded by the deadline.
  EXPECT_GT(*r.phase(Phase::FirstByte), Duration(kTimeout / 2));
  EXPECT_LT(*r.phase(Phase::FirstByte), Duration(kTimeout + 200ms));
}

TEST_F(HttpProberTest, HttpsHasATlsPhaseAndVerifiesTheServer) {
  TestWebServer server(pki_.issue({"127.0.0.1"}));
  auto t = target(url(server, "/readyz", true));
  t->tls = TlsOptions{"", (dir_ / "ca.crt").string(), false};
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_TRUE(r.phase(Phase::Connect));
  EXPECT_TRUE(r.phase(Phase::Tls));
  EXPECT_TRUE(r.phase(Phase::FirstByte));
  EXPECT_TRUE(r.cert_not_after);

  t->tls = TlsOptions{"", "", false};
  r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::TlsError);
  EXPECT_TRUE(contains(r.message, "unknown CA")) << r.message;
  EXPECT_EQ(server.requests().size(), 1u) << "no request after a failed handshake";
}

TEST_F(HttpProberTest, TheBearerTokenIsSentAndReReadWhenTheFileIsReplaced) {
  TestWebServer server(pki_.issue({"kubernetes.default.svc"}));
  const fs::path token = dir_ / "token";
  test::write_file(token, "first-token\n");
  auto t = target(url(server, "/readyz", true));
  t->tls = TlsOptions{"kubernetes.default.svc", (dir_ / "ca.crt").string(), false};
  t->bearer_token_file = token.string();
  EXPECT_EQ(probe(t).outcome, Outcome::Ok);
  EXPECT_EQ(probe(t).outcome, Outcome::Ok);
  // The kubelet rotates a projected token by swapping in a new file.
  test::write_file(dir_ / "token.new", "second-token");
  fs::rename(dir_ / "token.new", token);
  EXPECT_EQ(probe(t).outcome, Outcome::Ok);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].headers["authorization"], "Bearer first-token");
  EXPECT_EQ(requests[1].headers["authorization"], "Bearer first-token");
  EXPECT_EQ(requests[2].headers["authorization"], "Bearer second-token");
  EXPECT_EQ(requests[2].headers["host"], "127.0.0.1:" + std::to_string(server.port()));
}

TEST_F(HttpProberTest, AMissingTokenFileIsAnErrorWithoutARequest) {
  TestWebServer server;
  auto t = target(url(server, "/"));
  t->bearer_token_file = (dir_ / "absent").string();
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Error);
  EXPECT_TRUE(contains(r.message, "cannot read bearer_token_file " + (dir_ / "absent").string()))
      << r.message;
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpProberTest, HeadersAndHeadAreSentAsConfigured) {
  TestWebServer server;
  auto t = target(url(server, "/"));
  t->method = "HEAD";
  t->headers = {{"Host", "api.internal"}, {"X-Probe", "reachprobe"}};
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "HEAD");
  EXPECT_EQ(requests[0].headers["host"], "api.internal");
  EXPECT_EQ(requests[0].headers["x-probe"], "reachprobe");
}

TEST_F(HttpProberTest, ARedirectIsAnAnswerUnlessFollowRedirectsIsSet) {
  TestWebServer server;
  server.set_reply("/old", WebReply{302, "", 0ms, {{"Location", "/new"}}});
  auto t = target(url(server, "/old"));
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::BadStatus);
  EXPECT_TRUE(contains(r.message, "HTTP 302 Found")) << r.message;
  EXPECT_TRUE(contains(r.message, "a redirect to /new (follow_redirects: true follows it)"))
      << r.message;

  t->follow_redirects = true;
  r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[2].target, "/new");
}

TEST_F(HttpProberTest, ARedirectLoopEndsAfterFiveHops) {
  TestWebServer server;
  server.set_reply("/loop", WebReply{301, "", 0ms, {{"Location", "/loop"}}});
  auto t = target(url(server, "/loop"));
  t->follow_redirects = true;
  auto r = probe(t);
  EXPECT_EQ(r.outcome, Outcome::Error);
  EXPECT_TRUE(contains(r.message, "more than 5 redirects")) << r.message;
  EXPECT_EQ(server.requests().size(), 6u);
}

}  // namespace
}  // namespace reachprobe
