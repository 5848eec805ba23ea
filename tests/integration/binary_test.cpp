// The built `reachprobe` binary, as a user runs it: validate, check, run + HTTP, signals.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <regex>
#include <thread>
#include <vector>

#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/dns_responder.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/wait.hpp"

namespace reachprobe::test {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

const std::string kBinary = reachprobe_binary();
const std::string kSourceDir = source_dir();

class BinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("reachprobe-it-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    dns_.set("api.cluster.test", DnsRule::answer(std::vector<std::string>{"127.0.0.1"}));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // A config with an open port (held by `listener_`), a closed one, and the open one by a
  // name that only the test's DNS responder knows.
  std::string good_config(std::uint16_t listen_port) {
    return write("good.yaml",
                 "interval: 1s\n"
                 "timeout: 500ms\n"
                 "listen: 127.0.0.1:" +
                     std::to_string(listen_port) +
                     "\n"
                     "dns:\n"
                     "  servers: [" +
                     dns_.server() +
                     "]\n"
                     "targets:\n"
                     "  - name: open\n"
                     "    type: tcp\n"
                     "    hosts: [127.0.0.1]\n"
                     "    ports: [" +
                     std::to_string(open_port()) +
                     "]\n"
                     "    labels: {group: control-plane}\n"
                     "  - name: closed\n"
                     "    type: tcp\n"
                     "    hosts: [127.0.0.1]\n"
                     "    ports: [" +
                     std::to_string(closed_.port()) +
                     "]\n"
                     "  - name: named\n"
                     "    type: tcp\n"
                     "    hosts: [api.cluster.test.]\n"
                     "    ports: [" +
                     std::to_string(open_port()) + "]\n");
  }

  std::uint16_t open_port() const { return listener_.local_endpoint().port(); }

  std::filesystem::path dir_;
  DnsResponder dns_;
  asio::io_context io_;
  // Listening is enough: the kernel completes the handshake without accept().
  tcp::acceptor listener_{io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  ClosedTcpPort closed_;
};

TEST_F(BinaryTest, Version) {
  auto r = run_command({kBinary, "--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(^reachprobe \d+\.\d+\.\d+\n$)"))) << r.out;
}

TEST_F(BinaryTest, ValidatePrintsOkForAGoodConfig) {
  auto r = run_command({kBinary, "validate", "--config", good_config(free_tcp_port())});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(BinaryTest, ShippedConfigsValidate) {
  auto r = run_command({kBinary, "validate", "--config", kSourceDir + "/config/local.yaml"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  // Validated, never probed: the names in it are real ones.
  r = run_command({kBinary, "validate", "--config", kSourceDir + "/config/tls-http.yaml"}, 10s,
                  {"AWS_REGION=eu-west-1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  r = run_command({kBinary, "validate", "--config", kSourceDir + "/config/tls-http.yaml"}, 10s,
                  {"AWS_REGION="});
  EXPECT_EQ(r.exit_code, 2) << "an empty region makes an invalid host name";
}

TEST_F(BinaryTest, ValidateReportsEveryProblemWithLineAndColumn) {
  auto path = write("bad.yaml",
                    "interval: 10s\n"
                    "targets:\n"
                    "  - name: cp\n"
                    "    type: tcp\n"
                    "    hosts: [10.0.0.10]\n"
                    "    ports: [70000]\n"
                    "    intervall: 5s\n");
  auto r = run_command({kBinary, "validate", "--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find(path + ":6:13: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(path + ":7:5: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("intervall"), std::string::npos);
}

TEST_F(BinaryTest, ValidateOfAMissingFileIsAnError) {
  auto r = run_command({kBinary, "validate", "--config", (dir_ / "nope.yaml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("nope.yaml"), std::string::npos);
}

TEST_F(BinaryTest, ConfigPathThatIsNoConfigFileSaysWhatItIs) {
  // validate, check and run load the config the same way: each says what the path is.
  const std::string directory = dir_.string();
  write("config.yaml", "targets: []\n");
  for (const std::string command : {"validate", "check", "run"}) {
    auto r = run_command({kBinary, command, "--config", directory}, 10s);
    EXPECT_EQ(r.exit_code, 2) << command;
    EXPECT_NE(r.err.find(directory +
                         ":0:0: is a directory, not a config file; --config takes a file, e.g. " +
                         directory + "/config.yaml (it holds config.yaml)\n"),
              std::string::npos)
        << command << ": " << r.err;
  }
  auto empty = write("empty.yaml", "");
  auto r = run_command({kBinary, "validate", "--config", empty});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, empty + ":0:0: is empty (0 bytes); a config needs at least 'targets'\n");
}

TEST_F(BinaryTest, ConfigTheUserCannotReadNamesTheOwnerAndMode) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to the user nobody";
  std::filesystem::permissions(
      dir_, std::filesystem::perms::others_read | std::filesystem::perms::others_exec,
      std::filesystem::perm_options::add);
  auto path = write("secret.yaml", "targets: []\n");
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto r = run_command({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", kBinary,
                        "validate", "--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, path +
                       ":0:0: cannot read: Permission denied (mode 0600, owner uid 0 gid 0; "
                       "reachprobe runs as uid 65534 gid 65534)\n");
}

TEST_F(BinaryTest, UsageErrorsExitTwo) {
  EXPECT_EQ(run_command({kBinary}).exit_code, 2);
  EXPECT_EQ(run_command({kBinary, "check"}).exit_code, 2);
  EXPECT_EQ(run_command({kBinary, "run", "--bogus"}).exit_code, 2);
}

TEST_F(BinaryTest, CheckTableExitsOneAndExplainsTheFailure) {
  auto r = run_command({kBinary, "check", "--config", good_config(free_tcp_port())}, 10s);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto port = std::to_string(open_port());
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("open +127\\.0\\.0\\.1:" + port + " +127\\.0\\.0\\.1 +ok")))
      << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("named +api\\.cluster\\.test\\.:" + port + " +127\\.0\\.0\\.1 +ok")))
      << r.out;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("closed +127\\.0\\.0\\.1:\\d+ +127\\.0\\.0\\.1 +refused")))
      << r.out;
  EXPECT_NE(r.out.find("why: connection refused"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fix: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 endpoints: 2 ok, 1 failed"), std::string::npos) << r.out;
}

TEST_F(BinaryTest, CheckJsonAndTargetSelection) {
  auto config = good_config(free_tcp_port());
  auto r = run_command({kBinary, "check", "--config", config, "--format", "json"}, 10s);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find(R"("result": "refused")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"("ok": 2, "failed": 1})"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"("phases": {"dns": )"), std::string::npos) << r.out;

  r = run_command({kBinary, "check", "--config", config, "--target", "open", "--target", "named"},
                  10s);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("2 endpoints: 2 ok, 0 failed"), std::string::npos) << r.out;

  r = run_command({kBinary, "check", "--config", config, "--target", "nope"}, 10s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no target named 'nope'"), std::string::npos) << r.err;
}

TEST_F(BinaryTest, CheckOfABadConfigExitsTwo) {
  auto path = write("bad.yaml", "targets: [}\n");
  auto r = run_command({kBinary, "check", "--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(path + ":1:"), std::string::npos) << r.err;
}

TEST_F(BinaryTest, RunWithAnInvalidConfigExitsTwo) {
  auto path = write("bad.yaml", "interval: 1s\ntimeout: 2s\ntargets: []\n");
  auto r = run_command({kBinary, "run", "--config", path}, 10s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(path + ":"), std::string::npos) << r.err;
}

TEST_F(BinaryTest, RunServesMetricsHealthAndReadinessAndStopsOnSigterm) {
  const auto port = free_tcp_port();
  ChildProcess daemon({kBinary, "run", "--config", good_config(port)});
  ASSERT_TRUE(daemon.wait_for_stderr("reachprobe started", 5s)) << daemon.stderr_text();

  // Ready once every endpoint has a result: within one interval (1 s) plus a margin.
  EXPECT_TRUE(wait_until([&] { return http_get("127.0.0.1", port, "/readyz").status == 200; }, 5s))
      << daemon.stderr_text();
  EXPECT_EQ(http_get("127.0.0.1", port, "/healthz").status, 200);
  EXPECT_EQ(http_get("127.0.0.1", port, "/nope").status, 404);
  auto post = http_request("127.0.0.1", port, "POST", "/metrics");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers["allow"], "GET, HEAD");

  auto metrics = http_get("127.0.0.1", port, "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  const auto open = std::to_string(open_port());
  const auto& body = metrics.body;
  EXPECT_EQ(sample(body, "reachprobe_probe_success{dst=\"127.0.0.1:" + open +
                             "\",group=\"control-plane\",target=\"open\",type=\"tcp\"}"),
            1.0)
      << body;
  EXPECT_EQ(sample(body, "reachprobe_probe_success{dst=\"127.0.0.1:" +
                             std::to_string(closed_.port()) + "\",target=\"closed\",type=\"tcp\"}"),
            0.0);
  EXPECT_GE(
      sample(body, "reachprobe_probes_total{dst=\"127.0.0.1:" + std::to_string(closed_.port()) +
                       "\",result=\"refused\",target=\"closed\",type=\"tcp\"}")
          .value_or(0),
      1.0);
  EXPECT_NE(body.find("reachprobe_probe_duration_seconds_count{dst=\"api.cluster.test.:" + open +
                      "\",phase=\"dns\",target=\"named\",type=\"tcp\",vantage=\"node\"}"),
            std::string::npos)
      << "a named host has a dns phase";
  EXPECT_EQ(body.find("phase=\"connect\",target=\"open\""), std::string::npos)
      << "an IP literal's only sub-phase is not duplicated";
  EXPECT_NE(body.find("reachprobe_build_info{vantage=\"node\",version=\""), std::string::npos);
  EXPECT_EQ(sample(body, "reachprobe_config_last_reload_successful"), 1.0);
  EXPECT_GT(sample(body, "process_resident_memory_bytes").value_or(0), 0.0);
  EXPECT_GT(sample(body, "process_open_fds").value_or(0), 0.0);

  // The exposition passes promtool's own checks (Debian's prometheus package).
  auto file = write("metrics.txt", body);
  auto promtool = run_command({"sh", "-c", "promtool check metrics < '" + file + "'"});
  EXPECT_EQ(promtool.exit_code, 0) << promtool.out << promtool.err;

  // The state change of the closed endpoint is logged once, not once per probe.
  ASSERT_TRUE(wait_until(
      [&] {
        return sample(http_get("127.0.0.1", port, "/metrics").body,
                      "reachprobe_probes_total{dst=\"127.0.0.1:" + std::to_string(closed_.port()) +
                          "\",result=\"refused\",target=\"closed\",type=\"tcp\"}")
                   .value_or(0) >= 2;
      },
      5s));
  const auto log = daemon.stderr_text();
  std::size_t failing = 0;
  for (auto p = log.find("endpoint failing"); p != std::string::npos;
       p = log.find("endpoint failing", p + 1)) {
    ++failing;
  }
  EXPECT_EQ(failing, 1u) << log;

  const auto stop = std::chrono::steady_clock::now();
  daemon.send_signal(SIGTERM);
  auto status = daemon.wait_for_exit(2s);
  ASSERT_TRUE(status.has_value()) << "still running after SIGTERM";
  EXPECT_EQ(*status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - stop, 1s);
  EXPECT_NE(daemon.stderr_text().find("shutting down"), std::string::npos);
}

// Connections the kernel completed on a listener that nobody has accepted yet: for a listening
// socket, TCP_INFO's `unacked` is the length of the accept queue.
std::size_t accept_queue(tcp::acceptor& listener) {
  tcp_info info{};
  socklen_t size = sizeof info;
  if (getsockopt(listener.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &size) != 0) return 0;
  return info.tcpi_unacked;
}

// SIGTERM in the middle of probes of every kind: a lookup waiting on a DNS server that never
// answers (a tcp target by name, a dns target) and a TLS handshake and an HTTP request waiting
// on a listener that never speaks. The exit is prompt and clean; under the sanitizer job,
// clean includes LeakSanitizer's check at exit (probes in flight once leaked there, through
// c-ares holding their completion).
TEST_F(BinaryTest, SigtermWithProbesOfEveryKindInFlightExitsCleanly) {
  dns_.set("stuck.test", DnsRule::drop());
  const auto port = free_tcp_port();
  const auto open = std::to_string(open_port());
  auto config = write("inflight.yaml",
                      "interval: 4s\ntimeout: 3900ms\nlisten: 127.0.0.1:" + std::to_string(port) +
                          "\ndns:\n  servers: [" + dns_.server() +
                          "]\ntargets:\n"
                          "  - {name: by-name, type: tcp, hosts: [stuck.test.], ports: [" +
                          open +
                          "]}\n"
                          "  - {name: lookup, type: dns, query: stuck.test., record: A}\n"
                          "  - {name: handshake, type: tls, hosts: [127.0.0.1], ports: [" +
                          open +
                          "]}\n"
                          "  - {name: request, type: http, url: 'http://127.0.0.1:" +
                          open + "/'}\n");
  ChildProcess daemon({kBinary, "run", "--config", config});
  // Every endpoint starts within the first interval (at its phase offset) and then waits for
  // the rest of its timeout, which ends after the last one has started.
  ASSERT_TRUE(wait_until(
      [&] {
        return (dns_.query_count("stuck.test") >= 2 && accept_queue(listener_) >= 2) ||
               !daemon.running();
      },
      8s))
      << "queries " << dns_.query_count("stuck.test") << ", connections waiting "
      << accept_queue(listener_) << "\n"
      << daemon.stderr_text();
  ASSERT_TRUE(daemon.running()) << daemon.stderr_text();

  const auto stop = std::chrono::steady_clock::now();
  daemon.send_signal(SIGTERM);
  auto status = daemon.wait_for_exit(3s);
  ASSERT_TRUE(status.has_value()) << "still running after SIGTERM";
  const auto log = daemon.stderr_text();
  EXPECT_EQ(*status, 0) << log;
  EXPECT_LT(std::chrono::steady_clock::now() - stop, 2s);
  EXPECT_EQ(log.find("Sanitizer"), std::string::npos) << log;
  EXPECT_NE(log.find("stopped"), std::string::npos) << log;
}

TEST_F(BinaryTest, RunJsonLogsAreOneObjectPerLine) {
  const auto port = free_tcp_port();
  ChildProcess daemon({kBinary, "run", "--config", good_config(port), "--log-format", "json"});
  ASSERT_TRUE(daemon.wait_for_stderr("endpoint failing", 5s)) << daemon.stderr_text();
  daemon.send_signal(SIGINT);
  ASSERT_EQ(daemon.wait_for_exit(2s), 0);
  std::istringstream lines(daemon.stderr_text());
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    EXPECT_TRUE(
        std::regex_match(line, std::regex(R"(^\{"time":"[^"]+","level":"\w+","msg":".*"\}$)")))
        << line;
  }
  EXPECT_GE(count, 3);
}

TEST_F(BinaryTest, RunsAsNobodyWithoutCapabilities) {
  // tcp and dns probes need no privilege: the DaemonSet runs as a non-root user with every
  // capability dropped.
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to the user nobody";
  const auto port = free_tcp_port();
  const auto config = good_config(port);
  std::filesystem::permissions(
      dir_, std::filesystem::perms::others_read | std::filesystem::perms::others_exec,
      std::filesystem::perm_options::add);
  ChildProcess daemon({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                       "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", kBinary, "run",
                       "--config", config});
  ASSERT_TRUE(wait_until([&] { return http_get("127.0.0.1", port, "/readyz").status == 200; }, 5s))
      << daemon.stderr_text();
  const auto body = http_get("127.0.0.1", port, "/metrics").body;
  EXPECT_EQ(sample(body, "reachprobe_probe_success{dst=\"127.0.0.1:" + std::to_string(open_port()) +
                             "\",group=\"control-plane\",target=\"open\",type=\"tcp\"}"),
            1.0)
      << body;
  // The process really runs as nobody.
  std::ifstream status("/proc/" + std::to_string(daemon.pid()) + "/status");
  std::string line;
  std::string uid_line;
  while (std::getline(status, line)) {
    if (line.rfind("Uid:", 0) == 0) uid_line = line;
  }
  EXPECT_NE(uid_line.find("65534"), std::string::npos) << uid_line;
  daemon.send_signal(SIGTERM);
  EXPECT_EQ(daemon.wait_for_exit(2s), 0);
}

TEST_F(BinaryTest, RunRefusesAListenAddressInUse) {
  asio::io_context io;
  tcp::acceptor taken(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = taken.local_endpoint().port();
  auto r = run_command({kBinary, "run", "--config", good_config(free_tcp_port()), "--listen",
                        "127.0.0.1:" + std::to_string(port)},
                       10s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r.err;
}

TEST_F(BinaryTest, RunRefusesABadWebConfigWithItsPositions) {
  auto web = write("web.yml", "basic_auth_users:\n  prometheus: plaintext\ntls: {}\n");
  auto r = run_command(
      {kBinary, "run", "--config", good_config(free_tcp_port()), "--web.config.file", web}, 10s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(web + ":2:15: the password of 'prometheus' must be a bcrypt hash"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(web + ":3:1: unknown key 'tls'"), std::string::npos) << r.err;
}

TEST_F(BinaryTest, RunWithAWebConfigAsksForCredentialsOnMetricsOnly) {
  const auto port = free_tcp_port();
  auto token = write("token", "scrape-token\n");
  auto web = write("web.yml", "bearer_token_file: " + token + "\n");
  ChildProcess daemon({kBinary, "run", "--config", good_config(port), "--web.config.file", web});
  ASSERT_TRUE(wait_until([&] { return http_get("127.0.0.1", port, "/healthz").status == 200; }, 5s))
      << daemon.stderr_text();
  EXPECT_EQ(http_get("127.0.0.1", port, "/metrics").status, 401);
  EXPECT_NE(daemon.stderr_text().find("metrics_auth=on"), std::string::npos)
      << daemon.stderr_text();
}

// A loopback TCP connection to `port` that gives up after a second instead of blocking on a
// full accept queue; -1 if it could not connect.
int connect_within_a_second(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  const timeval limit{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// The HTTP server is reachable from anything that reaches the node. While slowloris clients,
// a flood of connections and garbage bytes hit it for a bounded window, a scraper is still
// answered every time and the probes still start on time.
TEST_F(BinaryTest, AbusiveClientsNeitherSilenceMetricsNorDelayProbes) {
  const auto port = free_tcp_port();
  std::vector<ClosedTcpPort> closed(20);
  std::string ports;
  for (const auto& c : closed) ports += (ports.empty() ? "" : ",") + std::to_string(c.port());
  auto config = write("abuse.yaml",
                      "interval: 200ms\ntimeout: 100ms\nlisten: 127.0.0.1:" + std::to_string(port) +
                          "\ntargets:\n  - {name: closed, type: tcp, hosts: "
                          "[127.0.0.1], ports: [" +
                          ports + "]}\n");
  ChildProcess daemon({kBinary, "run", "--config", config});
  ASSERT_TRUE(wait_until([&] { return http_get("127.0.0.1", port, "/readyz").status == 200; }, 5s))
      << daemon.stderr_text();

  const auto lag_le = [](double bound) {
    return "reachprobe_scheduler_lag_seconds_bucket{vantage=\"node\",le=\"" +
           std::to_string(bound) + "\"}";
  };
  const auto skipped = [](const std::map<std::string, double>& m) {
    double sum = 0;
    for (const auto& [series, value] : m) {
      if (series.starts_with("reachprobe_probes_skipped_total")) sum += value;
    }
    return sum;
  };
  auto first = http_get("127.0.0.1", port, "/metrics");
  ASSERT_EQ(first.status, 200);
  const auto before = samples(first.body);

  const auto window_end = std::chrono::steady_clock::now() + 3s;
  const auto in_window = [&] { return std::chrono::steady_clock::now() < window_end; };
  std::atomic<int> held{0}, flooded{0}, garbled{0};
  std::vector<std::thread> abusers;
  // Slowloris: half a request line on 150 connections (more than the server's 64), held.
  abusers.emplace_back([&] {
    std::vector<int> fds;
    for (int i = 0; i < 150 && in_window(); ++i) {
      const int fd = connect_within_a_second(port);
      if (fd < 0) continue;
      (void)!::write(fd, "GET /met", 8);
      fds.push_back(fd);
      ++held;
    }
    while (in_window()) std::this_thread::sleep_for(50ms);
    for (int fd : fds) close(fd);
  });
  // A flood of connections opened and dropped at once, at most 3,000.
  abusers.emplace_back([&] {
    for (int i = 0; i < 3000 && in_window(); ++i) {
      const int fd = connect_within_a_second(port);
      if (fd < 0) continue;
      close(fd);
      ++flooded;
    }
  });
  // Random bytes, each batch answered (400) or dropped before the next, at most 300.
  abusers.emplace_back([&] {
    std::mt19937 random(20261127);
    std::array<char, 512> junk{};
    for (int i = 0; i < 300 && in_window(); ++i) {
      for (auto& c : junk) c = static_cast<char>(random());
      const int fd = connect_within_a_second(port);
      if (fd < 0) continue;
      (void)!::write(fd, junk.data(), junk.size());
      char reply[256];
      (void)!read(fd, reply, sizeof reply);
      close(fd);
      ++garbled;
    }
  });
  int scrapes = 0;
  std::vector<std::string> failed_scrapes;
  while (in_window()) {
    auto r = http_get("127.0.0.1", port, "/metrics", 2s);
    ++scrapes;
    if (r.status != 200) failed_scrapes.push_back(std::to_string(r.status) + " " + r.error);
    std::this_thread::sleep_for(100ms);
  }
  for (auto& t : abusers) t.join();

  auto last = http_get("127.0.0.1", port, "/metrics");
  ASSERT_EQ(last.status, 200);
  const auto after = samples(last.body);
  EXPECT_GT(held, 100);
  EXPECT_GT(flooded, 100);
  EXPECT_GT(garbled, 10);
  // Not a rate: under TSan on a loaded 2-core machine a scrape during the flood took 0.5 s
  // (5 in the window). What matters is that every one was answered within its 2 s (a
  // Prometheus scrape times out after 10 s by default).
  EXPECT_GE(scrapes, 3);
  EXPECT_TRUE(failed_scrapes.empty()) << failed_scrapes.size() << " of " << scrapes
                                      << " scrapes failed, first: " << failed_scrapes.front();
  const auto count = "reachprobe_scheduler_lag_seconds_count{vantage=\"node\"}";
  const double probes = after.at(count) - before.at(count);
  const double on_time = after.at(lag_le(0.05)) - before.at(lag_le(0.05));
  // 20 endpoints every 200 ms: about 300 probes in the window and the scrapes around it.
  EXPECT_GE(probes, 200) << "probing stalled";
  EXPECT_GE(on_time / probes, 0.95) << on_time << " of " << probes << " started within 50 ms";
  EXPECT_EQ(skipped(after) - skipped(before), 0) << "slots passed without a probe";
  std::cout << "abuse for 3 s: " << held << " slowloris, " << flooded << " flood, " << garbled
            << " garbage connections; " << scrapes << " scrapes, " << failed_scrapes.size()
            << " failed; " << probes << " probes, " << on_time << " started within 50 ms\n";
  daemon.send_signal(SIGTERM);
  EXPECT_EQ(daemon.wait_for_exit(3s), 0) << daemon.stderr_text();
}

}  // namespace
}  // namespace reachprobe::test
