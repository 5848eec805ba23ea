// The built binary with a stand-in IMDS on loopback: the node's facts as a metric, the
// SDKs' switch that turns IMDS off, and the guard that keeps every test off the real one.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/fake_imds.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/wait.hpp"

namespace reachprobe::test {
namespace {

using namespace std::chrono_literals;

const std::string kBinary = reachprobe_binary();

class ImdsBinaryTest : public ::testing::Test {
 protected:
  // Probes only a closed loopback port; asks IMDS.
  std::string config(std::uint16_t listen_port = 0) {
    const auto path = (dir_ / "imds.yaml").string();
    std::ofstream(path) << "interval: 1s\ntimeout: 500ms\n"
                        << (listen_port ? "listen: 127.0.0.1:" + std::to_string(listen_port) + "\n"
                                        : std::string())
                        << "aws: {imds: true}\ntargets:\n"
                           "  - name: closed\n    type: tcp\n    hosts: [127.0.0.1]\n    ports: ["
                        << closed_.port() << "]\n";
    return path;
  }
  ClosedTcpPort closed_;
  TempDir dir_{"reachprobe-imds"};
};

TEST_F(ImdsBinaryTest, TheDaemonExportsTheNodesPlacement) {
  FakeImds imds;
  const auto port = free_tcp_port();
  ChildProcess daemon({kBinary, "run", "--config", config(port)}, {imds.environment()});
  const std::string series =
      "reachprobe_node_info{instance_id=\"i-0123456789abcdef0\",subnet_id=\"subnet-"
      "0aa11bb22cc33dd44\",vpc_id=\"vpc-0123abcd4567ef890\",zone=\"eu-west-1a\"}";
  std::string body;
  ASSERT_TRUE(wait_until(
      [&] {
        body = http_get("127.0.0.1", port, "/metrics").body;
        return sample(body, series) == std::optional<double>(1);
      },
      10s))
      << body << daemon.stderr_text();
  EXPECT_NE(daemon.stderr_text().find("node facts from IMDS"), std::string::npos);
  EXPECT_EQ(imds.token_requests(), 1u);
}

TEST_F(ImdsBinaryTest, DisabledAsInTheSdksAsksNothing) {
  FakeImds imds;
  auto r = run_command({kBinary, "check", "--config", config()}, 30s,
                       {imds.environment(), "AWS_EC2_METADATA_DISABLED=true"});
  EXPECT_EQ(r.exit_code, 1) << r.err;  // the closed port; the check itself runs
  EXPECT_EQ(imds.token_requests(), 0u);
  EXPECT_EQ(imds.get_requests(), 0u);
}

TEST_F(ImdsBinaryTest, NoImdsIsOneLogLineAndTheCheckStillRuns) {
  ClosedTcpPort no_imds;
  auto r = run_command(
      {kBinary, "check", "--config", config()}, 30s,
      {"AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:" + std::to_string(no_imds.port())});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("closed"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("IMDS is not reachable"), std::string::npos) << r.err;
}

// Under the suite marker, a binary that would contact 169.254.169.254 (no endpoint variable)
// aborts before opening a socket: the test that ran it fails. It runs in a network namespace
// of its own (no route, loopback down), so that even a broken guard could not send a packet
// there: the connect would fail with "network is unreachable" inside the namespace.
TEST_F(ImdsBinaryTest, UnderTheSuiteTheRealAddressAbortsTheBinary) {
  if (run_command({"unshare", "--net", "true"}, 10s).exit_code != 0) {
    GTEST_SKIP() << "needs root for a network namespace of its own (unshare --net)";
  }
  auto r = run_command({"unshare", "--net", "env", "-u", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                        kBinary, "check", "--config", config()},
                       30s);
  EXPECT_EQ(r.exit_code, 128 + SIGABRT) << r.out << r.err;
  EXPECT_NE(r.err.find("refusing to contact the real instance metadata service"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace reachprobe::test
