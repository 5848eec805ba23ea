// What the API server's proxy says when it cannot get an answer from the node, beyond a
// dial error: each text gets the outcome and finding whose fix is the right one, through a
// real probe against the stand-in API server (which produces the same texts for the same
// conditions: a refused dial, a silent port, a deadline during the dial).
#include "probe/probers/kubernetes.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "probe/check/hints.hpp"
#include "probe/check/remediation.hpp"
#include "probe/probers/inbound.hpp"
#include "tests/support/apiserver_probe_test.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/run_probe.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"

namespace reachprobe {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
using test::FakeApiServer;
using test::FakeApiServerOptions;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ProxyErrors, EachGoAndEksTextHasItsOutcomeAndFinding) {
  auto not_allowed = classify_proxy_error("error trying to reach service: Address is not allowed");
  ASSERT_TRUE(not_allowed);
  EXPECT_EQ(not_allowed->outcome, Outcome::Unreachable);
  EXPECT_EQ(not_allowed->finding, Finding::ControlPlaneCannotRoute);
  // As a webhook call words it.
  not_allowed = classify_proxy_error(
      "failed calling webhook \"vingress.elbv2.k8s.aws\": failed to call webhook: Post "
      "\"https://aws-load-balancer-webhook-service.kube-system.svc:443/validate?timeout=10s\": "
      "Address is not allowed");
  ASSERT_TRUE(not_allowed);
  EXPECT_EQ(not_allowed->finding, Finding::ControlPlaneCannotRoute);

  auto waiting = classify_proxy_error(
      "Get \"https://10.0.1.5:10250/containerLogs/x/y/z\": net/http: request canceled while "
      "waiting for connection (Client.Timeout exceeded while awaiting headers)");
  ASSERT_TRUE(waiting);
  EXPECT_EQ(waiting->outcome, Outcome::Timeout);
  EXPECT_EQ(waiting->finding, Finding::None)
      << "no connection: a drop, a security group may fix it";

  auto headers = classify_proxy_error(
      "error trying to reach service: net/http: request canceled (Client.Timeout exceeded while "
      "awaiting headers)");
  ASSERT_TRUE(headers);
  EXPECT_EQ(headers->outcome, Outcome::Timeout);
  EXPECT_EQ(headers->finding, Finding::NoResponseHeaders);
  headers = classify_proxy_error(
      "error trying to reach service: net/http: timeout awaiting "
      "response headers");
  ASSERT_TRUE(headers);
  EXPECT_EQ(headers->finding, Finding::NoResponseHeaders);

  auto deadline = classify_proxy_error(
      "Post \"https://svc.ns.svc:443/mutate?timeout=10s\": context deadline exceeded "
      "(Client.Timeout exceeded while awaiting headers)");
  ASSERT_TRUE(deadline);
  EXPECT_EQ(deadline->outcome, Outcome::Timeout);
  EXPECT_EQ(deadline->finding, Finding::None) << "either way round: no proof, no finding";
  deadline = classify_proxy_error("error trying to reach service: context deadline exceeded");
  ASSERT_TRUE(deadline);
  EXPECT_EQ(deadline->outcome, Outcome::Timeout);

  // A dial error keeps its own classification, also with a Client.Timeout suffix.
  auto dial = classify_proxy_error(
      "dial tcp 10.0.1.5:9443: i/o timeout (Client.Timeout exceeded while awaiting headers)");
  ASSERT_TRUE(dial);
  EXPECT_EQ(dial->outcome, Outcome::Timeout);
  EXPECT_EQ(dial->finding, Finding::None);
  EXPECT_EQ(classify_proxy_error("dial tcp 10.0.1.5:9443: connect: connection refused")->outcome,
            Outcome::Refused);
  EXPECT_FALSE(classify_proxy_error("pods \"x\" not found"));
}

// A probe's row as check prints it: the result and the hint it gets.
class ProxyErrorTest : public test::ApiServerProbeTest {
 protected:
  ProxyErrorTest() : ApiServerProbeTest("kubernetes_test") {}

  CheckRow probe_row(Prober& prober, ProbeType type, const std::string& pod_ip, std::uint16_t port,
                     Duration timeout = 3s) {
    auto endpoint = this->endpoint(type, pod_ip, port, timeout);
    CheckRow row{endpoint, test::probe_once(io_, prober, endpoint), {}};
    row.hint = hint_for(row.endpoint, row.result);
    return row;
  }
};

TEST_F(ProxyErrorTest, AddressNotAllowedIsNoRouteIntoThePodNetworkAndNoSecurityGroupRule) {
  auto options = apiserver_options();
  options.dial_allowed = [](const std::string&) { return false; };
  FakeApiServer apiserver(options);
  InboundProber inbound(io_, resolver_, api(apiserver));
  auto row = probe_row(inbound, ProbeType::Inbound, "127.0.0.1", test::free_tcp_port());
  EXPECT_EQ(row.result.outcome, Outcome::Unreachable) << row.result.message;
  EXPECT_EQ(row.result.finding, Finding::ControlPlaneCannotRoute);
  EXPECT_TRUE(has(row.result.message, "Address is not allowed")) << row.result.message;
  EXPECT_TRUE(has(row.hint, "hostNetwork: true")) << row.hint;
  EXPECT_FALSE(has(row.hint, "security group for TCP")) << row.hint;

  KubeletProber kubelet(resolver_, api(apiserver));
  auto kubelet_row = probe_row(kubelet, ProbeType::Kubelet, "127.0.0.1", 10250);
  EXPECT_EQ(kubelet_row.result.outcome, Outcome::Unreachable) << kubelet_row.result.message;
  EXPECT_EQ(kubelet_row.result.finding, Finding::ControlPlaneCannotRoute);

  auto plan = plan_remediation({row, kubelet_row}, nullptr);
  EXPECT_TRUE(plan.rules.empty()) << render_terraform(plan);
  ASSERT_EQ(plan.skipped.size(), 2u);
  EXPECT_TRUE(has(plan.skipped[0].why, "cannot route to the pod network")) << plan.skipped[0].why;
}

TEST_F(ProxyErrorTest, NoResponseHeadersMeansThePathIsOpenAndTheServerSilent) {
  // Listens and never accepts: the kernel completes the connection, nothing ever answers.
  tcp::acceptor silent(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto options = apiserver_options();
  options.response_header_timeout = 300ms;
  FakeApiServer apiserver(options);
  InboundProber inbound(io_, resolver_, api(apiserver));
  auto row = probe_row(inbound, ProbeType::Inbound, "127.0.0.1", silent.local_endpoint().port());
  EXPECT_EQ(row.result.outcome, Outcome::Timeout) << row.result.message;
  EXPECT_EQ(row.result.finding, Finding::NoResponseHeaders);
  EXPECT_TRUE(has(row.result.message, "Client.Timeout exceeded while awaiting headers"))
      << row.result.message;
  EXPECT_TRUE(has(row.hint, "no security group blocks it")) << row.hint;
  auto plan = plan_remediation({row}, nullptr);
  EXPECT_TRUE(plan.rules.empty()) << render_terraform(plan);
  ASSERT_EQ(plan.skipped.size(), 1u);
  EXPECT_TRUE(has(plan.skipped[0].why, "connected")) << plan.skipped[0].why;
}

// The webhook's classic: the control plane's SYNs are dropped and its request deadline
// comes before the dial timeout, so Go says only "context deadline exceeded". No proof
// either way, so the likeliest fix stands: the security-group rule.
TEST_F(ProxyErrorTest, ContextDeadlineExceededDuringADroppedDialKeepsTheSecurityGroupFix) {
  if (auto why = test::netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  test::TestHost control_plane;
  auto options = apiserver_options(control_plane.address());
  options.netns = control_plane.name();
  options.pod_ip = control_plane.gateway_address();
  options.dial_timeout = 5s;
  options.request_deadline = 400ms;
  FakeApiServer apiserver(options);
  InboundProber inbound(io_, resolver_, api(apiserver));
  const auto port = test::free_tcp_port();
  control_plane.nft(
      "table inet sg {\n chain output { type filter hook output priority 0; "
      "tcp dport " +
      std::to_string(port) + " drop; }\n}\n");
  auto row = probe_row(inbound, ProbeType::Inbound, control_plane.gateway_address(), port);
  EXPECT_EQ(row.result.outcome, Outcome::Timeout) << row.result.message;
  EXPECT_EQ(row.result.finding, Finding::None);
  EXPECT_TRUE(has(row.result.message, "context deadline exceeded")) << row.result.message;
  EXPECT_TRUE(has(row.result.message, "never set up")) << row.result.message;
  EXPECT_TRUE(has(row.hint, "security group")) << row.hint;
  auto plan = plan_remediation({row}, nullptr);
  ASSERT_EQ(plan.rules.size(), 1u) << render_terraform(plan);
  EXPECT_EQ(plan.rules[0].kind, RuleKind::ClusterToNode);
  EXPECT_EQ(plan.rules[0].port, port);
}

}  // namespace
}  // namespace reachprobe
