// `type: dns` through the built binary, against a real dnsmasq: `check` as a user reads it,
// and `run` with its /metrics.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <regex>
#include <set>

#include "tests/probers/dns_test_helpers.hpp"
#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/dnsmasq.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/wait.hpp"

namespace reachprobe::test {
namespace {

using namespace std::chrono_literals;

const std::string kBinary = reachprobe_binary();
const std::string kPodsName = "alertmanager-operated.monitoring.svc.cluster.test";

class DnsBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Dnsmasq::binary().empty()) GTEST_SKIP() << "dnsmasq is not installed (dnsmasq-base)";
    dir_ = std::filesystem::temp_directory_path() /
           ("reachprobe-dns-it-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string write(const std::string& name, const std::string& text) {
    auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // A config as in SPEC.md: the private DNS name of Alertmanager with connect_port, and a
  // misspelt one. Only the test's dnsmasq is asked.
  std::string config(const Dnsmasq& server, std::uint16_t connect_port,
                     std::uint16_t listen_port = 9754) {
    return write("dns.yaml",
                 "interval: 1s\n"
                 "timeout: 500ms\n"
                 "listen: 127.0.0.1:" +
                     std::to_string(listen_port) +
                     "\n"
                     "dns:\n"
                     "  servers: [" +
                     server.server() +
                     "]\n"
                     "targets:\n"
                     "  - name: alertmanager-private-dns\n"
                     "    type: dns\n"
                     "    query: " +
                     kPodsName +
                     ".\n"
                     "    record: A\n"
                     "    connect_port: " +
                     std::to_string(connect_port) +
                     "\n"
                     "    labels: {team: observability}\n"
                     "    expect: {min_answers: 3}\n"
                     "  - name: alertmanager-typo\n"
                     "    type: dns\n"
                     "    query: alertmanger-operated.monitoring.svc.cluster.test.\n");
  }

  std::filesystem::path dir_;
};

TEST_F(DnsBinaryTest, CheckShowsEveryPodAddressUnderTheDnsRow) {
  if (auto why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  dns_test::FirewalledPods pods;
  Dnsmasq server({"--local=/test/", "--host-record=" + kPodsName + "," + pods.serving(),
                  "--host-record=" + kPodsName + "," + pods.refusing(),
                  "--host-record=" + kPodsName + "," + pods.dropping()});
  auto r = run_command(
      {kBinary, "check", "--config", config(server, dns_test::FirewalledPods::kPort)}, 10s);
  // What a new user sees; kept in the test log for the record.
  std::cout << r.out;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  // The got/why/fix text wraps at the terminal width wherever the numbers put it.
  const std::string prose = std::regex_replace(r.out, std::regex("\n +"), " ");
  const std::string port = std::to_string(dns_test::FirewalledPods::kPort);
  // A table row: target, endpoint (perhaps cut with "~"), address, result.
  auto row = [&](const std::string& target, const std::string& endpoint,
                 const std::string& result) {
    const std::string escaped = std::regex_replace(endpoint, std::regex("\\."), "\\.");
    return std::regex_search(r.out,
                             std::regex(target + " +" + escaped + "[^ ]* +[^ ]+ +" + result + " "));
  };
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("alertmanager-priv~ +alertmanager-operated\\.mon~ +127\\.0\\.0\\.1 +ok")))
      << r.out;
  EXPECT_NE(prose.find("got: 3 A records for " + kPodsName), std::string::npos) << r.out;
  EXPECT_TRUE(row("alertmanager-priv~", pods.serving() + ":" + port, "ok")) << r.out;
  EXPECT_TRUE(row("alertmanager-priv~", pods.refusing() + ":" + port, "refused")) << r.out;
  EXPECT_TRUE(row("alertmanager-priv~", pods.dropping() + ":" + port, "timeout")) << r.out;
  EXPECT_NE(prose.find("TCP SYN unanswered"), std::string::npos) << r.out;
  EXPECT_TRUE(row("alertmanager-typo", "alertmanger-operated", "nxdomain")) << r.out;
  EXPECT_NE(prose.find("(NXDOMAIN from " + server.server() + ")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("5 endpoints: 2 ok, 3 failed"), std::string::npos) << r.out;

  auto json = run_command({kBinary, "check", "--config",
                           config(server, dns_test::FirewalledPods::kPort), "--format", "json"},
                          10s);
  EXPECT_EQ(json.exit_code, 1) << json.err;
  EXPECT_NE(json.out.find("\"endpoint\": \"" + pods.dropping() + ":" + port +
                          "\", \"address\": \"" + pods.dropping() + "\", \"result\": \"timeout\""),
            std::string::npos)
      << json.out;
}

TEST_F(DnsBinaryTest, RunExposesAnswerCountAndOneSeriesPerAddress) {
  dns_test::FanOutPorts ports;  // 127.0.0.2 open, 127.0.0.3 refused, 127.0.0.4 dropped
  Dnsmasq server({"--local=/test/", "--host-record=" + kPodsName + ",127.0.0.2",
                  "--host-record=" + kPodsName + ",127.0.0.3",
                  "--host-record=" + kPodsName + ",127.0.0.4"});
  const auto listen_port = free_tcp_port();
  ChildProcess daemon({kBinary, "run", "--config", config(server, ports.port(), listen_port)});
  ASSERT_TRUE(daemon.wait_for_stderr("reachprobe started", 5s)) << daemon.stderr_text();

  const std::string port = std::to_string(ports.port());
  const auto series = [&](const std::string& family, const std::string& endpoint,
                          const std::string& extra = "") {
    return family + "{dst=\"" + endpoint + "\"," + extra +
           "target=\"alertmanager-private-dns\",team=\"observability\",type=\"dns\"}";
  };
  std::string body;
  // Ready once every target has a result (one interval, plus); the addresses have theirs
  // from the same probe of their dns target.
  ASSERT_TRUE(wait_until(
      [&] {
        if (http_get("127.0.0.1", listen_port, "/readyz").status != 200) return false;
        body = http_get("127.0.0.1", listen_port, "/metrics").body;
        return sample(body, series("reachprobe_probe_success", "127.0.0.4:" + port)).has_value();
      },
      5s))
      << body << daemon.stderr_text();
  EXPECT_EQ(sample(body, series("reachprobe_dns_answers", kPodsName + ".")), 3.0) << body;
  EXPECT_EQ(sample(body, series("reachprobe_probe_success", kPodsName + ".")), 1.0);
  EXPECT_EQ(sample(body, series("reachprobe_probe_success", "127.0.0.2:" + port)), 1.0);
  EXPECT_EQ(sample(body, series("reachprobe_probe_success", "127.0.0.3:" + port)), 0.0);
  EXPECT_EQ(sample(body, series("reachprobe_probe_success", "127.0.0.4:" + port)), 0.0);
  EXPECT_GE(
      sample(body, series("reachprobe_probes_total", "127.0.0.4:" + port, "result=\"timeout\","))
          .value_or(0),
      1.0)
      << body;
  EXPECT_GE(sample(body, series("reachprobe_probe_duration_seconds_count", kPodsName + ".",
                                "phase=\"dns\","))
                .value_or(0),
            1.0)
      << body;
  EXPECT_GE(sample(body,
                   "reachprobe_probes_total{dst=\"alertmanger-operated.monitoring.svc."
                   "cluster.test.\",result=\"nxdomain\",target=\"alertmanager-typo\","
                   "type=\"dns\"}")
                .value_or(0),
            1.0)
      << body;
  EXPECT_EQ(sample(body,
                   "reachprobe_dns_answers{dst=\"alertmanger-operated.monitoring.svc."
                   "cluster.test.\",target=\"alertmanager-typo\",type=\"dns\"}"),
            0.0);

  auto file = write("metrics.txt", body);
  auto promtool = run_command({"sh", "-c", "promtool check metrics < '" + file + "'"});
  EXPECT_EQ(promtool.exit_code, 0) << promtool.out << promtool.err;

  daemon.send_signal(SIGTERM);
  auto status = daemon.wait_for_exit(2s);
  ASSERT_TRUE(status.has_value()) << "still running after SIGTERM";
  EXPECT_EQ(*status, 0);
}

// The accident of issue 16: a headless Service of 1,500 pods and a target without
// max_connect. dnsmasq answers all 1,500 (over TCP: the UDP answer is truncated).
class LargeAnswerTest : public DnsBinaryTest {
 protected:
  void SetUp() override {
    DnsBinaryTest::SetUp();
    if (IsSkipped()) return;
    std::vector<std::string> options = {"--local=/test/"};
    for (int i = 0; i < 1500; ++i) {
      options.push_back("--host-record=pods.big.test,127.2." + std::to_string(i / 250) + "." +
                        std::to_string(i % 250 + 1));
    }
    server_ = std::make_unique<Dnsmasq>(options);
  }

  std::string big_config(std::uint16_t listen_port) {
    return write("big.yaml",
                 "interval: 1s\n"
                 "timeout: 800ms\n"
                 "listen: 127.0.0.1:" +
                     std::to_string(listen_port) +
                     "\n"
                     "dns:\n"
                     "  servers: [" +
                     server_->server() +
                     "]\n"
                     "targets:\n"
                     "  - name: pods\n"
                     "    type: dns\n"
                     "    query: pods.big.test.\n"
                     "    connect_port: " +
                     std::to_string(closed_.port()) + "\n");
  }

  std::unique_ptr<Dnsmasq> server_;
  ClosedTcpPort closed_;
};

TEST_F(LargeAnswerTest, CheckShowsTheDefaultBoundInTheTableAndJson) {
  auto r = run_command({kBinary, "check", "--config", big_config(free_tcp_port())}, 20s);
  EXPECT_EQ(r.exit_code, 1) << "the chosen addresses refuse: " << r.err;
  const std::string prose = std::regex_replace(r.out, std::regex("\n +"), " ");
  EXPECT_NE(prose.find("got: 1500 A records for pods.big.test: "), std::string::npos) << r.out;
  EXPECT_NE(prose.find("; connecting to 64 of them (the default bound; max_connect sets "
                       "another, up to 1000)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("65 endpoints: 1 ok, 64 failed"), std::string::npos) << r.out;

  auto json = run_command(
      {kBinary, "check", "--config", big_config(free_tcp_port()), "--format", "json"}, 20s);
  EXPECT_EQ(json.exit_code, 1) << json.err;
  EXPECT_NE(json.out.find(R"("endpoint": "pods.big.test.")"), std::string::npos) << json.out;
  EXPECT_NE(
      json.out.find(R"("fanout_cut": {"addresses": 1500, "connected": 64, "bound": "default"})"),
      std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find(R"("ok": 1, "failed": 64})"), std::string::npos) << json.out;
}

TEST_F(LargeAnswerTest, RunCountsEveryCutLogsItOnceAndExposesOnlyTheChosen) {
  const auto listen_port = free_tcp_port();
  ChildProcess daemon({kBinary, "run", "--config", big_config(listen_port)});
  ASSERT_TRUE(daemon.wait_for_stderr("reachprobe started", 5s)) << daemon.stderr_text();
  const std::string counter = R"(reachprobe_fanout_truncated_total{target="pods"})";
  std::string body;
  ASSERT_TRUE(wait_until(
      [&] {
        body = http_get("127.0.0.1", listen_port, "/metrics").body;
        return sample(body, counter).value_or(0) >= 3;
      },
      10s))
      << body << daemon.stderr_text();
  std::set<std::string> endpoints;
  for (const auto& [name, value] : samples(body)) {
    if (name.rfind("reachprobe_probe_success{", 0) != 0) continue;
    endpoints.insert(name);
  }
  EXPECT_EQ(endpoints.size(), 65u) << "the dns endpoint and the 64 chosen addresses";
  const auto log = daemon.stderr_text();
  std::size_t lines = 0;
  for (std::size_t at = 0;
       (at = log.find("dns fan-out cut to the default bound", at)) != std::string::npos; ++at) {
    ++lines;
  }
  EXPECT_EQ(lines, 1u) << log;
  EXPECT_NE(log.find("addresses=1500 connected=64"), std::string::npos) << log;

  daemon.send_signal(SIGTERM);
  EXPECT_EQ(daemon.wait_for_exit(2s), 0);
}

}  // namespace
}  // namespace reachprobe::test
