// `type: inbound` and `type: kubelet` through the built binary, as in the outage: the node
// security group drops the control plane's connections to the webhook port 9443. The
// control plane is a network namespace with a stand-in API server; reachprobe runs in the
// test's namespace, the node.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

#include "tests/support/child_process.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"

namespace reachprobe::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kBinary = REACHPROBE_BINARY;

bool port_free(std::uint16_t port) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io);
  boost::system::error_code ec;
  a.open(boost::asio::ip::tcp::v4(), ec);
  a.set_option(boost::asio::ip::tcp::acceptor::reuse_address(true), ec);
  a.bind({boost::asio::ip::tcp::v4(), port}, ec);
  return !ec;
}

TEST(InboundBinaryTest, CheckShowsTheDroppedWebhookPortAndTheRuleToAdd) {
  if (auto why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  if (!port_free(9443)) GTEST_SKIP() << "port 9443 is taken on this machine";
  TempDir dir("reachprobe-inbound-it");
  TestPki pki;
  write_file(dir / "ca.crt", pki.ca_pem());
  write_file(dir / "token", "reachprobe-service-account-token\n");

  TestHost control_plane;
  FakeApiServerOptions options;
  options.certificate = pki.issue({control_plane.address()});
  options.listen_address = control_plane.address();
  options.netns = control_plane.name();
  options.pod_ip = control_plane.gateway_address();
  ClosedTcpPort kubelet;  // nothing listens: the kubelet is down
  options.kubelet_port = kubelet.port();
  options.dial_timeout = 1s;
  FakeApiServer apiserver(options);
  // The node security group lets the control plane in on 443 and 10250 only.
  control_plane.nft(
      "table inet node_sg {\n chain output { type filter hook output priority 0; tcp dport 9443 "
      "drop; }\n}\n");

  const auto config = dir / "inbound.yaml";
  std::ofstream(config) << "interval: 10s\ntimeout: 3s\nkubernetes:\n  api_server: "
                        << apiserver.url() << "\n  token_file: " << (dir / "token").string()
                        << "\n  ca_file: " << (dir / "ca.crt").string()
                        << "\n  namespace: monitoring\n  pod_name: reachprobe-x7k2p\n  pod_ip: "
                        << control_plane.gateway_address()
                        << "\ntargets:\n  - name: webhook-inbound\n    type: inbound\n    ports: "
                           "[9443]\n  - name: kubelet-inbound\n    type: kubelet\n";
  auto r = run_command({kBinary, "check", "--config", config.string()}, 20s);
  // What an operator sees on the node; kept in the test log for the record.
  std::cout << r.out;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const std::string prose = std::regex_replace(r.out, std::regex("\n +"), " ");
  const std::string node = control_plane.gateway_address();
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("webhook-inbound +" + node + ":9443 +" + node + " +timeout ")))
      << r.out;
  EXPECT_NE(prose.find("dial tcp " + node + ":9443: i/o timeout"), std::string::npos) << prose;
  EXPECT_NE(prose.find("add an ingress rule to the node security group for TCP 9443 from the "
                       "cluster security group"),
            std::string::npos)
      << prose;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("kubelet-inbound +" + node + ":10250 +" + node + " +refused ")))
      << r.out;

  // The rule is added: the same check passes.
  control_plane.flush_firewall();
  auto fixed = run_command({kBinary, "check", "--config", config.string(), "--target",
                            "webhook-inbound", "--format", "json"},
                           20s);
  std::cout << fixed.out;
  EXPECT_EQ(fixed.exit_code, 0) << fixed.out << fixed.err;
  EXPECT_NE(fixed.out.find("\"result\": \"ok\""), std::string::npos) << fixed.out;
}

}  // namespace
}  // namespace reachprobe::test
