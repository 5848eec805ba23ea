// `check` for targets that take a ClusterIP from the API: a refused ClusterIP is told apart
// by what discovery knows about the Service's endpoints. The ClusterIP stand-in is an
// address in a network namespace that rejects the port with a TCP reset, as kube-proxy's
// rule for a Service without endpoints does; the stand-in API server serves the Service and
// its EndpointSlice.
#include "probe/check/discover.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "probe/check/hints.hpp"
#include "probe/check/remediation.hpp"
#include "probe/probers/prober_set.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"

namespace reachprobe {
namespace {

using namespace std::chrono_literals;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class ClusterIpCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = test::netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    cluster_ip_.emplace();
    // kube-proxy's rule for a Service port without endpoints: reject, with a TCP reset.
    cluster_ip_->nft(
        "table inet kube-proxy {\n chain input { type filter hook input priority 0; "
        "tcp dport " +
        std::to_string(port_) + " reject with tcp reset; }\n}\n");
    test::write_file(dir_ / "ca.crt", pki_.ca_pem());
    test::write_file(dir_ / "token", "reachprobe-service-account-token\n");
    test::FakeApiServerOptions options;
    options.certificate = pki_.issue({"127.0.0.1"});
    apiserver_.emplace(options);
    apiserver_->set_service("monitoring", "alertmanager", {cluster_ip_->address()},
                            {{"http-web", port_, "TCP"}});
  }

  std::vector<std::shared_ptr<const Target>> targets() const {
    std::vector<std::shared_ptr<const Target>> out;
    for (auto type : {ProbeType::Tcp, ProbeType::Tls}) {
      auto t = std::make_shared<Target>();
      t->name = type == ProbeType::Tcp ? "alertmanager-service" : "alertmanager-service-tls";
      t->type = type;
      t->interval = 10s;
      t->timeout = 2s;
      t->discover =
          Discover{"monitoring", "alertmanager", DiscoverAddresses::ClusterIp, "http-web", false};
      out.push_back(std::move(t));
    }
    return out;
  }

  // What `check` does: one list of each source, one probe of each endpoint.
  std::vector<CheckRow> check() {
    boost::asio::io_context io;
    const KubernetesApi api{apiserver_->url(), (dir_ / "token").string(),
                            (dir_ / "ca.crt").string(), "reachprobe", "reachprobe-x7k2p"};
    auto discovered = discover_for_check(io, targets(), api, {}, "node-a");
    EXPECT_TRUE(discovered.failures.empty());
    auto probers = make_probers({io, {}, "node-a", api});
    return run_check(io, probers, discovered.endpoints);
  }

  std::uint16_t port_ = test::free_tcp_port();
  std::optional<test::TestHost> cluster_ip_;
  test::TestPki pki_;
  test::TempDir dir_{"check_discover_test"};
  std::optional<test::FakeApiServer> apiserver_;
};

TEST_F(ClusterIpCheckTest, RefusedWithoutReadyEndpointsIsTheServiceNotAListener) {
  apiserver_->set_endpoint_slice("monitoring", "alertmanager-x1", "alertmanager",
                                 {{cluster_ip_->gateway_address(), false, "node-b", ""}},
                                 {{"http-web", 9093, "TCP"}});
  auto rows = check();
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    const auto& r = row.result;
    EXPECT_EQ(row.endpoint.label, cluster_ip_->address() + ":" + std::to_string(port_));
    EXPECT_EQ(r.outcome, Outcome::Refused) << r.message;
    EXPECT_EQ(r.finding, Finding::NoReadyEndpoints) << r.message;
    EXPECT_TRUE(has(r.message, "Service monitoring/alertmanager has no ready endpoints"))
        << r.message;
    EXPECT_FALSE(has(r.message, "nothing listens")) << r.message;
    EXPECT_TRUE(has(row.hint, "Service monitoring/alertmanager has no ready endpoints"))
        << row.hint;
    EXPECT_TRUE(has(row.hint, "kubernetes.io/service-name=alertmanager")) << row.hint;
  }
  auto plan = plan_remediation(rows, nullptr);
  EXPECT_TRUE(plan.rules.empty()) << render_terraform(plan);
  ASSERT_EQ(plan.skipped.size(), 2u);
  EXPECT_TRUE(has(plan.skipped[0].why, "Service monitoring/alertmanager has no ready endpoints"))
      << plan.skipped[0].why;
}

TEST_F(ClusterIpCheckTest, RefusedWithReadyEndpointsStillMeansNothingListens) {
  apiserver_->set_endpoint_slice("monitoring", "alertmanager-x1", "alertmanager",
                                 {{cluster_ip_->gateway_address(), true, "node-b", ""}},
                                 {{"http-web", 9093, "TCP"}});
  auto rows = check();
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    EXPECT_EQ(row.result.outcome, Outcome::Refused) << row.result.message;
    EXPECT_EQ(row.result.finding, Finding::None);
    EXPECT_TRUE(has(row.result.message, "nothing listens")) << row.result.message;
    EXPECT_FALSE(has(row.hint, "no ready endpoints")) << row.hint;
  }
}

}  // namespace
}  // namespace reachprobe
