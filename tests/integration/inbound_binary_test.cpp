// `type: inbound` and `type: kubelet` through the built binary, as in the outage: the node
// security group drops the control plane's connections to the webhook port 9443. The
// control plane is a network namespace with a stand-in API server; reachprobe runs in the
// test's namespace, the node.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <thread>

#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/port_free.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"
#include "tests/support/wait.hpp"

namespace reachprobe::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kBinary = reachprobe_binary();

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

// Another process's server on a port (a hostNetwork webhook): it binds without SO_REUSEADDR,
// retrying within `limit` while reachprobe's probe holds the port, then answers every HTTP
// request with 200 "webhook". On a thread of its own, stopped and joined by the destructor.
class PortHolder {
 public:
  explicit PortHolder(std::uint16_t port) : acceptor_(io_) {
    namespace asio = boost::asio;
    using asio::ip::tcp;
    const tcp::endpoint any(tcp::v4(), port);
    bound_ = wait_until(
        [&] {
          boost::system::error_code ec;
          if (acceptor_.is_open()) acceptor_.close(ec);
          acceptor_.open(any.protocol(), ec);
          if (!ec) acceptor_.bind(any, ec);
          if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
          if (ec) last_error_ = ec.message();
          return !ec;
        },
        10s, 5ms);
    if (!bound_) return;
    // Bound without SO_REUSEADDR: no leftover of reachprobe's may be on the port. Then on,
    // as servers do (Go, Java, nginx), so that the TIME_WAIT sockets of the connections it
    // closes first do not keep reachprobe from listening again once it is gone.
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    asio::co_spawn(io_, serve(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~PortHolder() {
    boost::asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      io_.stop();
    });
    if (thread_.joinable()) thread_.join();
  }
  bool bound() const { return bound_; }
  const std::string& last_error() const { return last_error_; }
  int inbound_requests() const { return inbound_requests_; }

 private:
  boost::asio::awaitable<void> serve() {
    namespace asio = boost::asio;
    for (;;) {
      boost::system::error_code ec;
      auto socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      std::string request;
      char chunk[1024];
      while (!ec && request.find("\r\n\r\n") == std::string::npos) {
        const auto n = co_await socket.async_read_some(
            asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
        request.append(chunk, n);
      }
      if (ec) continue;
      if (request.starts_with("GET /reachprobe/inbound/")) ++inbound_requests_;
      const std::string reply =
          "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nwebhook\n";
      co_await asio::async_write(socket, asio::buffer(reply),
                                 asio::redirect_error(asio::use_awaitable, ec));
      socket.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    }
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  bool bound_ = false;
  std::string last_error_;
  std::atomic<int> inbound_requests_{0};
  std::thread thread_;
};

// The inbound port is a hostNetwork webhook's too: reachprobe holds it only while a probe
// runs, so the webhook binds it between probes; from then on the probe goes through the
// webhook (its accept proves the path), and when the webhook goes, reachprobe listens again.
TEST(InboundBinaryTest, AnotherProcessBindsThePortWhileTheDaemonRunsAndThePathStaysOk) {
  TempDir dir("reachprobe-inbound-held");
  TestPki pki;
  write_file(dir / "ca.crt", pki.ca_pem());
  write_file(dir / "token", "reachprobe-service-account-token\n");
  FakeApiServerOptions options;
  options.certificate = pki.issue({"127.0.0.1"});
  FakeApiServer apiserver(options);
  const auto webhook_port = free_tcp_port();
  const auto listen_port = free_tcp_port();
  const auto config = dir / "held.yaml";
  std::ofstream(config) << "interval: 300ms\ntimeout: 250ms\nkubernetes:\n  api_server: "
                        << apiserver.url() << "\n  token_file: " << (dir / "token").string()
                        << "\n  ca_file: " << (dir / "ca.crt").string()
                        << "\n  namespace: monitoring\n  pod_name: reachprobe-x7k2p\n  pod_ip: "
                           "127.0.0.1\ntargets:\n  - name: webhook-inbound\n    type: inbound\n"
                           "    ports: ["
                        << webhook_port << "]\n";
  ChildProcess daemon({kBinary, "run", "--config", config.string(), "--listen",
                       "127.0.0.1:" + std::to_string(listen_port)});
  // Probes of the target by result, from /metrics.
  auto probes = [&](bool ok) {
    double total = 0;
    for (const auto& [series, value] :
         samples(http_get("127.0.0.1", listen_port, "/metrics").body)) {
      if (series.starts_with("reachprobe_probes_total{") &&
          series.find("target=\"webhook-inbound\"") != std::string::npos &&
          (series.find("result=\"ok\"") != std::string::npos) == ok) {
        total += value;
      }
    }
    return total;
  };
  ASSERT_TRUE(wait_until([&] { return probes(true) >= 2; }, 10s))
      << daemon.stderr_text() << daemon.stdout_text();

  {
    PortHolder webhook(webhook_port);
    ASSERT_TRUE(webhook.bound()) << "the daemon holds port " << webhook_port
                                 << " between probes: " << webhook.last_error();
    const double ok_before = probes(true);
    ASSERT_TRUE(wait_until([&] { return webhook.inbound_requests() >= 2; }, 10s))
        << "the probes do not reach the process holding the port";
    EXPECT_TRUE(wait_until([&] { return probes(true) >= ok_before + 2; }, 10s))
        << daemon.stderr_text();
  }
  EXPECT_EQ(probes(false), 0) << daemon.stderr_text();

  // The webhook is gone: reachprobe listens again (it must, or the proxy would be refused).
  const double ok_after = probes(true);
  EXPECT_TRUE(wait_until([&] { return probes(true) >= ok_after + 2; }, 10s));
  EXPECT_EQ(probes(false), 0) << daemon.stderr_text();
  daemon.send_signal(SIGTERM);
  EXPECT_EQ(daemon.wait_for_exit(10s), std::optional<int>(0));
}

}  // namespace
}  // namespace reachprobe::test
