// `reachprobe run` and `check` with a discovered target against the stand-in API server
// (real TLS on loopback): endpoints come and go with the EndpointSlice while the daemon
// runs, carry their node as labels, and an API server outage keeps them probed.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <list>

#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/dns_responder.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"
#include "tests/support/wait.hpp"

namespace reachprobe::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

const std::string kBinary = reachprobe_binary();

class DiscoveryBinaryTest : public ::testing::Test {
 protected:
  DiscoveryBinaryTest() {
    write_file(dir_ / "ca.crt", pki_.ca_pem());
    write_file(dir_ / "token", "reachprobe-service-account-token\n");
    // The "pods": one port on two loopback addresses.
    for (const char* ip : {"127.0.0.1", "127.0.0.2"}) {
      auto& a = listeners_.emplace_back(io_);
      a.open(asio::ip::tcp::v4());
      a.bind({asio::ip::make_address(ip), pod_port_});
      a.listen();
    }
  }

  FakeApiServerOptions apiserver_options() {
    FakeApiServerOptions o;
    o.certificate = pki_.issue({"127.0.0.1"});
    return o;
  }

  std::filesystem::path write_config(const FakeApiServer& server) {
    const auto path = dir_ / "discovery.yaml";
    std::ofstream(path) << "interval: 1s\ntimeout: 500ms\nlisten: 127.0.0.1:" << listen_
                        << "\nkubernetes:\n  api_server: " << server.url()
                        << "\n  token_file: " << (dir_ / "token").string()
                        << "\n  ca_file: " << (dir_ / "ca.crt").string()
                        << "\ntargets:\n  - name: am\n    type: tcp\n    discover:\n"
                           "      service: monitoring/am\n      port: web\n";
    return path;
  }

  std::string metrics() { return http_get("127.0.0.1", listen_, "/metrics").body; }

  std::optional<double> success(const std::string& ip, const std::string& peer) {
    return sample(metrics(), "reachprobe_probe_success{dst=\"" + ip + ":" +
                                 std::to_string(pod_port_) + "\"," + peer +
                                 "target=\"am\",type=\"tcp\"}");
  }

  asio::io_context io_;
  TestPki pki_;
  TempDir dir_{"reachprobe-discovery-it"};
  std::uint16_t listen_ = free_tcp_port();
  std::uint16_t pod_port_ = free_tcp_port();
  std::list<asio::ip::tcp::acceptor> listeners_;
};

TEST_F(DiscoveryBinaryTest, EndpointsFollowTheSliceWithoutRestartAndSurviveAnOutage) {
  FakeApiServer server(apiserver_options());
  const std::vector<FakePort> ports = {{"web", pod_port_, "TCP"}, {"other", 1, "TCP"}};
  server.set_endpoint_slice("monitoring", "am-1", "am", {{"127.0.0.1", true, "node-a", "zone-a"}},
                            ports);
  ChildProcess daemon({kBinary, "run", "--config", write_config(server).string()});
  const std::string node_a = "peer_node=\"node-a\",peer_zone=\"zone-a\",";
  ASSERT_TRUE(wait_until([&] { return success("127.0.0.1", node_a) == 1.0; }, 10s))
      << daemon.stderr_text() << metrics();
  const std::string source = "{source=\"endpointslices/monitoring/am\"}";
  EXPECT_EQ(sample(metrics(), "reachprobe_discovery_up" + source), 1.0);
  EXPECT_EQ(sample(metrics(), "reachprobe_discovery_addresses" + source), 1.0);
  // Only the named port.
  EXPECT_EQ(metrics().find("127.0.0.1:1\""), std::string::npos);

  // A pod comes: probed within two intervals, no restart.
  auto changed = std::chrono::steady_clock::now();
  server.set_endpoint_slice(
      "monitoring", "am-1", "am",
      {{"127.0.0.1", true, "node-a", "zone-a"}, {"127.0.0.2", true, "node-b", ""}}, ports);
  ASSERT_TRUE(wait_until([&] { return success("127.0.0.2", "peer_node=\"node-b\",") == 1.0; }, 10s))
      << daemon.stderr_text();
  EXPECT_LT(std::chrono::steady_clock::now() - changed, 2s + 500ms);

  // A pod goes: its series go.
  changed = std::chrono::steady_clock::now();
  server.set_endpoint_slice("monitoring", "am-1", "am", {{"127.0.0.2", true, "node-b", ""}}, ports);
  ASSERT_TRUE(wait_until([&] { return metrics().find("127.0.0.1:") == std::string::npos; }, 10s));
  EXPECT_LT(std::chrono::steady_clock::now() - changed, 2s + 500ms);
  EXPECT_EQ(success("127.0.0.2", "peer_node=\"node-b\","), 1.0);

  // The same IP on another node: the series is replaced, not duplicated.
  server.set_endpoint_slice("monitoring", "am-1", "am", {{"127.0.0.2", true, "node-c", ""}}, ports);
  ASSERT_TRUE(
      wait_until([&] { return success("127.0.0.2", "peer_node=\"node-c\",") == 1.0; }, 10s));
  EXPECT_EQ(success("127.0.0.2", "peer_node=\"node-b\","), std::nullopt);

  // The API server goes down: the set is kept and probed, the source's error is visible.
  server.stop_serving();
  ASSERT_TRUE(
      wait_until([&] { return sample(metrics(), "reachprobe_discovery_up" + source) == 0.0; }, 10s))
      << daemon.stderr_text();
  const std::string probes =
      "reachprobe_probes_total{dst=\"127.0.0.2:" + std::to_string(pod_port_) +
      "\",peer_node=\"node-c\",result=\"ok\",target=\"am\",type=\"tcp\"}";
  const double before = sample(metrics(), probes).value_or(0);
  ASSERT_TRUE(wait_until([&] { return sample(metrics(), probes).value_or(0) >= before + 2; }, 10s));
  EXPECT_GE(sample(metrics(),
                   "reachprobe_discovery_errors_total{reason=\"connect\",source="
                   "\"endpointslices/monitoring/am\"}")
                .value_or(0),
            1.0);
  EXPECT_TRUE(daemon.wait_for_stderr("discovery source failing", 5s)) << daemon.stderr_text();
  // One log line for the state change, not one per retry.
  const auto log = daemon.stderr_text();
  std::size_t lines = 0;
  for (auto at = log.find("discovery source failing"); at != std::string::npos;
       at = log.find("discovery source failing", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << log;
  server.resume();
  ASSERT_TRUE(
      wait_until([&] { return sample(metrics(), "reachprobe_discovery_up" + source) == 1.0; }, 15s))
      << daemon.stderr_text();
}

TEST_F(DiscoveryBinaryTest, CheckListsOnceAndNamesWhatTheRoleLacks) {
  auto options = apiserver_options();
  FakeApiServer server(options);
  server.set_endpoint_slice("monitoring", "am-1", "am", {{"127.0.0.1", true, "node-a", ""}},
                            {{"web", pod_port_, "TCP"}});
  const auto config = write_config(server);
  auto ok = run_command({kBinary, "check", "--config", config.string()}, 20s);
  std::cout << ok.out;
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("127.0.0.1:" + std::to_string(pod_port_)), std::string::npos) << ok.out;
  EXPECT_EQ(server.watch_count(), 0u);

  options.authorize = [](const std::string&, const std::string&, const std::string&) {
    return false;
  };
  FakeApiServer forbidding(options);
  auto denied = run_command(
      {kBinary, "check", "--config", write_config(forbidding).string(), "--format", "json"}, 20s);
  std::cout << denied.out;
  EXPECT_EQ(denied.exit_code, 1) << denied.out << denied.err;
  EXPECT_NE(denied.out.find("\"result\": \"error\""), std::string::npos) << denied.out;
  EXPECT_NE(denied.out.find("forbidden (403): the service account needs RBAC `list` on "
                            "`endpointslices.discovery.k8s.io` in namespace monitoring"),
            std::string::npos)
      << denied.out;
}

TEST_F(DiscoveryBinaryTest, DnsTargetsSendTheQueryToEachDiscoveredServer) {
  DnsResponder dns;
  dns.set("kubernetes.default.svc.cluster.local", DnsRule::answer({"10.100.0.1"}));
  FakeApiServer server(apiserver_options());
  server.set_service("kube-system", "kube-dns", {"127.0.0.1"},
                     {{"dns", dns.port(), "UDP"}, {"dns-tcp", dns.port(), "TCP"}});
  const auto path = dir_ / "dns.yaml";
  std::ofstream(path) << "interval: 1s\ntimeout: 500ms\nlisten: 127.0.0.1:" << listen_
                      << "\nkubernetes:\n  api_server: " << server.url()
                      << "\n  token_file: " << (dir_ / "token").string()
                      << "\n  ca_file: " << (dir_ / "ca.crt").string()
                      << "\ntargets:\n  - name: kube-dns\n    type: dns\n"
                         "    query: kubernetes.default.svc.cluster.local.\n    discover:\n"
                         "      service: kube-system/kube-dns\n      addresses: cluster_ip\n";
  ChildProcess daemon({kBinary, "run", "--config", path.string()});
  // Every UDP port the Service publishes, the server "IP:port" as the endpoint.
  const std::string series =
      "reachprobe_probe_success{dst=\"127.0.0.1:" + std::to_string(dns.port()) +
      "\",target=\"kube-dns\",type=\"dns\"}";
  ASSERT_TRUE(wait_until([&] { return sample(metrics(), series) == 1.0; }, 10s))
      << daemon.stderr_text() << metrics();
  EXPECT_GE(dns.query_count("kubernetes.default.svc.cluster.local"), 1);
  EXPECT_EQ(sample(metrics(), "reachprobe_discovery_up{source=\"services/kube-system/kube-dns\"}"),
            1.0);
}

}  // namespace
}  // namespace reachprobe::test
