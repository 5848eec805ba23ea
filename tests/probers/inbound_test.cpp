#include "probe/probers/inbound.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <filesystem>

#include "tests/support/exposition.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/run_probe.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"
#include "tests/support/web_server.hpp"

namespace reachprobe {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using asio::ip::tcp;
using namespace std::chrono_literals;
using test::FakeApiServer;
using test::FakeApiServerOptions;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// reachprobe on "the node" (this process's namespace) and a stand-in API server that dials
// back to it: on loopback here, from a control-plane namespace in the netns tests below.
class InboundTest : public ::testing::Test {
 protected:
  InboundTest() {
    test::write_file(dir_ / "ca.crt", pki_.ca_pem());
    test::write_file(dir_ / "token", "reachprobe-service-account-token\n");
    resolver_ = std::make_shared<dns::Resolver>(io_, dns::ResolverOptions{});
  }

  FakeApiServerOptions apiserver_options(const std::string& listen = "127.0.0.1") {
    FakeApiServerOptions o;
    o.certificate = pki_.issue({listen});
    o.listen_address = listen;
    return o;
  }
  KubernetesApi api(const FakeApiServer& server) const {
    return KubernetesApi{server.url(), (dir_ / "token").string(), (dir_ / "ca.crt").string(),
                         "monitoring", "reachprobe-x7k2p"};
  }
  ProbeResult probe(Prober& prober, ProbeType type, const std::string& pod_ip, std::uint16_t port,
                    Duration timeout = 3s) {
    auto t = std::make_shared<Target>();
    t->name = type == ProbeType::Inbound ? "webhook-inbound" : "kubelet-inbound";
    t->type = type;
    t->hosts = {pod_ip};
    t->ports = {port};
    t->interval = 10s;
    t->timeout = timeout;
    auto endpoints = expand_endpoints({t});
    return test::probe_once(io_, prober, endpoints.front());
  }

  asio::io_context io_;
  test::TestPki pki_;
  test::TempDir dir_{"inbound_test"};
  std::shared_ptr<dns::Resolver> resolver_;
};

TEST_F(InboundTest, TheControlPlaneReachesTheListenerThroughThePodProxy) {
  FakeApiServer apiserver(apiserver_options());
  InboundProber prober(io_, resolver_, api(apiserver));
  const auto port = test::free_tcp_port();
  auto r = probe(prober, ProbeType::Inbound, "127.0.0.1", port);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_TRUE(has(r.message, "the control plane reached this node's port " + std::to_string(port)))
      << r.message;
  EXPECT_EQ(r.address, "127.0.0.1");
  EXPECT_TRUE(r.phase(Phase::Total));
  EXPECT_FALSE(r.phase(Phase::Connect)) << "the way to the API server is not the path probed";
  auto requests = apiserver.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_TRUE(requests[0].starts_with("/api/v1/namespaces/monitoring/pods/reachprobe-x7k2p:" +
                                      std::to_string(port) + "/proxy/reachprobe/inbound/"))
      << requests[0];
  // A second probe reuses the listener and sends a new nonce.
  EXPECT_EQ(probe(prober, ProbeType::Inbound, "127.0.0.1", port).outcome, Outcome::Ok);
  requests = apiserver.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(requests[0], requests[1]);
}

TEST_F(InboundTest, AWrongTokenAndAMissingPermissionAreErrorsThatSayWhichRbac) {
  FakeApiServer apiserver(apiserver_options());
  auto wrong = api(apiserver);
  test::write_file(dir_ / "other-token", "someone-else");
  wrong.token_file = (dir_ / "other-token").string();
  InboundProber unauthorized(io_, resolver_, wrong);
  auto r = probe(unauthorized, ProbeType::Inbound, "127.0.0.1", test::free_tcp_port());
  EXPECT_EQ(r.outcome, Outcome::Error);
  EXPECT_TRUE(has(r.message, "refused the service-account token (401")) << r.message;

  auto options = apiserver_options();
  options.forbidden = true;
  FakeApiServer strict(options);
  InboundProber forbidden(io_, resolver_, api(strict));
  r = probe(forbidden, ProbeType::Inbound, "127.0.0.1", test::free_tcp_port());
  EXPECT_EQ(r.outcome, Outcome::Error);
  EXPECT_TRUE(has(r.message, "needs RBAC `get` on `pods/proxy` in namespace monitoring"))
      << r.message;
  KubeletProber kubelet(resolver_, api(strict));
  r = probe(kubelet, ProbeType::Kubelet, "127.0.0.1", 10250);
  EXPECT_TRUE(has(r.message, "needs RBAC `get` on `pods/log`")) << r.message;
}

TEST_F(InboundTest, AnUnknownPodIsAnErrorNamingTheSettings) {
  FakeApiServer apiserver(apiserver_options());
  auto settings = api(apiserver);
  settings.pod_name = "reachprobe-gone";
  InboundProber prober(io_, resolver_, settings);
  auto r = probe(prober, ProbeType::Inbound, "127.0.0.1", test::free_tcp_port());
  EXPECT_EQ(r.outcome, Outcome::Error);
  EXPECT_TRUE(has(r.message, "does not know pod monitoring/reachprobe-gone (404)")) << r.message;
}

TEST_F(InboundTest, APortHeldByAnAnsweringProcessProvesThePathOpen) {
  test::TestWebServer other;  // another HTTP server already holds the port
  FakeApiServer apiserver(apiserver_options());
  InboundProber prober(io_, resolver_, api(apiserver));
  auto r = probe(prober, ProbeType::Inbound, "127.0.0.1", other.port());
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
  EXPECT_TRUE(has(r.message, "held by another process, which answered HTTP 200")) << r.message;
}

TEST_F(InboundTest, APortHeldByASilentProcessIsNeverOk) {
  // Listens and never accepts: the connection gets through but nothing answers.
  tcp::acceptor silent(io_, tcp::endpoint(asio::ip::make_address("0.0.0.0"), 0));
  FakeApiServer apiserver(apiserver_options());
  InboundProber prober(io_, resolver_, api(apiserver));
  auto r = probe(prober, ProbeType::Inbound, "127.0.0.1", silent.local_endpoint().port(), 1s);
  EXPECT_NE(r.outcome, Outcome::Ok) << r.message;
  EXPECT_EQ(r.outcome, Outcome::Timeout) << r.message;
}

TEST_F(InboundTest, TheKubeletPathIsTheApiServersLogRequest) {
  auto options = apiserver_options();
  asio::io_context io;
  tcp::acceptor kubelet_listener(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  options.kubelet_port = kubelet_listener.local_endpoint().port();
  {
    FakeApiServer apiserver(options);
    KubeletProber prober(resolver_, api(apiserver));
    auto r = probe(prober, ProbeType::Kubelet, "127.0.0.1", 10250);
    EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
    EXPECT_EQ(apiserver.requests().at(0),
              "/api/v1/namespaces/monitoring/pods/reachprobe-x7k2p/log?tailLines=1");
  }
  kubelet_listener.close();
  FakeApiServer apiserver(options);
  KubeletProber prober(resolver_, api(apiserver));
  auto r = probe(prober, ProbeType::Kubelet, "127.0.0.1", 10250);
  EXPECT_EQ(r.outcome, Outcome::Refused) << r.message;
  EXPECT_TRUE(has(r.message, "could not connect to this node's kubelet")) << r.message;
}

TEST_F(InboundTest, AnUnreachableApiServerIsSaidToBeTheApiServer) {
  test::ClosedTcpPort apiserver_port;
  auto settings = KubernetesApi{"https://127.0.0.1:" + std::to_string(apiserver_port.port()),
                                (dir_ / "token").string(), (dir_ / "ca.crt").string(), "monitoring",
                                "reachprobe-x7k2p"};
  InboundProber prober(io_, resolver_, settings);
  auto r = probe(prober, ProbeType::Inbound, "127.0.0.1", test::free_tcp_port());
  EXPECT_EQ(r.outcome, Outcome::Refused);
  EXPECT_TRUE(has(r.message, "cannot ask the API server: ")) << r.message;
}

TEST(DialErrors, GoErrorTextsMapToResults) {
  EXPECT_EQ(
      classify_dial_error("error trying to reach service: dial tcp 10.0.1.5:9443: i/o timeout"),
      Outcome::Timeout);
  EXPECT_EQ(classify_dial_error("dial tcp 10.0.1.5:9443: connect: connection refused"),
            Outcome::Refused);
  EXPECT_EQ(classify_dial_error("dial tcp 10.0.1.5:10250: connect: no route to host"),
            Outcome::Unreachable);
  EXPECT_EQ(classify_dial_error("dial tcp 10.0.1.5:10250: connect: network is unreachable"),
            Outcome::Unreachable);
  EXPECT_EQ(classify_dial_error("dial tcp: lookup x: no such host"), Outcome::Error);
  EXPECT_EQ(classify_dial_error("pods \"x\" not found"), std::nullopt);
}

TEST(ApiStatus, ParsesAStatusAndNothingElse) {
  auto s = parse_api_status(
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"error trying to reach service: dial tcp 10.0.1.5:9443: i/o timeout","reason":"ServiceUnavailable","code":503})");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->code, 503);
  EXPECT_EQ(s->reason, "ServiceUnavailable");
  EXPECT_EQ(s->message, "error trying to reach service: dial tcp 10.0.1.5:9443: i/o timeout");
  EXPECT_FALSE(parse_api_status(R"({"kind":"Pod"})"));
  EXPECT_FALSE(parse_api_status("reachprobe inbound abc"));
  EXPECT_FALSE(parse_api_status("{\"kind\":"));
  EXPECT_FALSE(parse_api_status(""));
}

// The outage's case: the node's security group drops the control plane's connections to
// 9443. The stand-in API server lives in a namespace of its own and dials the node across
// a veth; nftables in its namespace drops the SYNs, as the security group did.
TEST_F(InboundTest, ADroppedWebhookPortIsATimeoutAndRecoversWhenTheRuleGoes) {
  if (auto why = test::netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  test::TestHost control_plane;
  auto options = apiserver_options(control_plane.address());
  options.netns = control_plane.name();
  options.pod_ip = control_plane.gateway_address();
  options.dial_timeout = 500ms;
  FakeApiServer apiserver(options);
  InboundProber prober(io_, resolver_, api(apiserver));
  const auto port = test::free_tcp_port();
  control_plane.nft(
      "table inet sg {\n chain output { type filter hook output priority 0; "
      "tcp dport " +
      std::to_string(port) + " drop; }\n}\n");
  auto r = probe(prober, ProbeType::Inbound, control_plane.gateway_address(), port);
  EXPECT_EQ(r.outcome, Outcome::Timeout) << r.message;
  EXPECT_TRUE(has(r.message, "dial tcp " + control_plane.gateway_address() + ":" +
                                 std::to_string(port) + ": i/o timeout"))
      << r.message;
  control_plane.flush_firewall();
  r = probe(prober, ProbeType::Inbound, control_plane.gateway_address(), port);
  EXPECT_EQ(r.outcome, Outcome::Ok) << r.message;
}

}  // namespace
}  // namespace reachprobe
