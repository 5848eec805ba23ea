// Hot reload of `reachprobe run`: SIGHUP, a file replaced in place, a Kubernetes ConfigMap
// update (an atomic swap of the ..data symlink), and a bad config that must not win.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <filesystem>
#include <fstream>

#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/exposition.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/wait.hpp"

namespace reachprobe::test {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using asio::ip::tcp;
using namespace std::chrono_literals;

const std::string kBinary = reachprobe_binary();

class ReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("reachprobe-reload-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string config(const std::vector<std::uint16_t>& ports, const std::string& extra = "") {
    std::string text =
        "interval: 300ms\ntimeout: 200ms\nlisten: 127.0.0.1:" + std::to_string(listen_) +
        "\ntargets:\n";
    for (auto p : ports) {
      text += "  - name: t" + std::to_string(p) + "\n    type: tcp\n    hosts: [127.0.0.1]\n" +
              "    ports: [" + std::to_string(p) + "]\n";
    }
    return text + extra;
  }

  // Writes the way editors and `kubectl cp` do: a new file renamed over the old.
  void replace(const fs::path& path, const std::string& text) {
    auto tmp = path;
    tmp += ".tmp";
    std::ofstream(tmp) << text;
    fs::rename(tmp, path);
  }

  std::string metrics() { return http_get("127.0.0.1", listen_, "/metrics").body; }

  double ok_count(std::uint16_t port) {
    return sample(metrics(), "reachprobe_probes_total{dst=\"127.0.0.1:" + std::to_string(port) +
                                 "\",result=\"ok\",target=\"t" + std::to_string(port) +
                                 "\",type=\"tcp\"}")
        .value_or(-1);
  }

  fs::path dir_;
  std::uint16_t listen_ = free_tcp_port();
  asio::io_context io_;
  tcp::acceptor a_{io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  tcp::acceptor b_{io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::uint16_t pa_ = a_.local_endpoint().port();
  std::uint16_t pb_ = b_.local_endpoint().port();
};

TEST_F(ReloadTest, SighupAppliesAGoodConfigAndKeepsUnchangedEndpoints) {
  const auto path = dir_ / "config.yaml";
  std::ofstream(path) << config({pa_});
  ChildProcess daemon({kBinary, "run", "--config", path.string()});
  ASSERT_TRUE(wait_until([&] { return ok_count(pa_) >= 2; }, 5s)) << daemon.stderr_text();

  // The file changes in place (no rename); SIGHUP applies it at once, before the file
  // watcher's debounce, whose own reload then finds nothing new.
  { std::ofstream(path, std::ios::trunc) << config({pa_, pb_}); }
  daemon.send_signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return ok_count(pb_) >= 1; }, 5s)) << daemon.stderr_text();
  const double kept = ok_count(pa_);
  EXPECT_GE(kept, 2) << "the unchanged endpoint kept its counters";
  ASSERT_TRUE(wait_until([&] { return ok_count(pa_) > kept; }, 5s)) << "and is still probed";
  EXPECT_EQ(sample(metrics(), "reachprobe_config_last_reload_successful"), 1.0);
  EXPECT_NE(daemon.stderr_text().find("config reloaded trigger=SIGHUP"), std::string::npos)
      << daemon.stderr_text();

  // Removing a target removes its series.
  { std::ofstream(path, std::ios::trunc) << config({pb_}); }
  daemon.send_signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return ok_count(pa_) < 0; }, 5s)) << metrics();
  EXPECT_GE(ok_count(pb_), 1);

  daemon.send_signal(SIGTERM);
  EXPECT_EQ(daemon.wait_for_exit(2s), 0);
}

TEST_F(ReloadTest, ABadConfigIsRejectedAndTheLastGoodOneKeepsProbing) {
  const auto path = dir_ / "config.yaml";
  std::ofstream(path) << config({pa_});
  ChildProcess daemon({kBinary, "run", "--config", path.string()});
  ASSERT_TRUE(wait_until([&] { return ok_count(pa_) >= 1; }, 5s)) << daemon.stderr_text();

  replace(path, config({pa_, pb_}) + "  - name: broken\n    type: tcp\n    hosts: []\n");
  ASSERT_TRUE(wait_until(
      [&] { return sample(metrics(), "reachprobe_config_last_reload_successful") == 0.0; }, 5s))
      << daemon.stderr_text();
  // Every error is logged with its line and column; the old config is still in force.
  EXPECT_NE(daemon.stderr_text().find("config rejected, keeping the last good one"),
            std::string::npos);
  EXPECT_NE(daemon.stderr_text().find(path.string() + ":"), std::string::npos);
  const double before = ok_count(pa_);
  ASSERT_TRUE(wait_until([&] { return ok_count(pa_) > before; }, 5s));
  EXPECT_LT(ok_count(pb_), 0) << "nothing of the rejected config was applied";
  EXPECT_TRUE(daemon.running());

  replace(path, config({pa_, pb_}));
  ASSERT_TRUE(wait_until(
      [&] { return sample(metrics(), "reachprobe_config_last_reload_successful") == 1.0; }, 5s));
  EXPECT_TRUE(wait_until([&] { return ok_count(pb_) >= 1; }, 5s));
  EXPECT_GT(
      sample(metrics(), "reachprobe_config_last_reload_success_timestamp_seconds").value_or(0),
      1.7e9);
}

TEST_F(ReloadTest, AConfigMapUpdateIsPickedUpWithoutASignal) {
  // The layout kubelet makes for a mounted ConfigMap: config.yaml -> ..data/config.yaml,
  // ..data -> ..2026_11_25_a; an update writes a new timestamped directory and renames a
  // new ..data symlink over the old one in one step.
  const auto v1 = dir_ / "..2026_11_25_a";
  const auto v2 = dir_ / "..2026_11_25_b";
  fs::create_directories(v1);
  fs::create_directories(v2);
  std::ofstream(v1 / "config.yaml") << config({pa_});
  std::ofstream(v2 / "config.yaml") << config({pa_, pb_});
  fs::create_directory_symlink(v1.filename(), dir_ / "..data");
  fs::create_symlink("..data/config.yaml", dir_ / "config.yaml");

  ChildProcess daemon({kBinary, "run", "--config", (dir_ / "config.yaml").string()});
  ASSERT_TRUE(wait_until([&] { return ok_count(pa_) >= 1; }, 5s)) << daemon.stderr_text();
  EXPECT_LT(ok_count(pb_), 0);

  fs::create_directory_symlink(v2.filename(), dir_ / "..data_tmp");
  fs::rename(dir_ / "..data_tmp", dir_ / "..data");
  EXPECT_TRUE(wait_until([&] { return ok_count(pb_) >= 1; }, 5s)) << daemon.stderr_text();
  EXPECT_NE(daemon.stderr_text().find("trigger=\"config file changed\""), std::string::npos)
      << daemon.stderr_text();
}

}  // namespace
}  // namespace reachprobe::test
