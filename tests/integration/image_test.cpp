// The image (deploy/Dockerfile's runtime stage around this build's binary, made by the ctest
// fixture image_build with scripts/image.sh), run with podman as a user runs it: as its own
// user (65532), a read-only root file system, no capabilities. The EKS e2e runs it on the
// simulated cluster too (tests/integration/eks_e2e_test.cpp, EksE2eInImageTest).
#include <gtest/gtest.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <map>
#include <sstream>
#include <string>

#include "tests/support/build_paths.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/http_get.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/podman.hpp"
#include "tests/support/wait.hpp"

namespace reachprobe::test {
namespace {

using namespace std::chrono_literals;

const std::string kBinary = reachprobe_binary();
// Where the image keeps the example configs (`cmake --install` with prefix /usr/local).
const std::string kExamples = "/usr/local/share/doc/reachprobe/examples";

class ImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = image_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  }
  // The DaemonSet's container securityContext, with the image's own user.
  ContainerRun locked_down(std::vector<std::string> args) const {
    ContainerRun run;
    run.image = test_image();
    run.read_only = true;
    run.cap_drop = {"ALL"};
    run.no_new_privileges = true;
    run.args = std::move(args);
    return run;
  }
};

TEST_F(ImageTest, PrintsTheVersionOfTheBinaryItWasBuiltFrom) {
  auto in_image = run_container(locked_down({"--version"}), 120s);
  auto here = run_command({kBinary, "--version"});
  ASSERT_EQ(in_image.exit_code, 0) << in_image.out << in_image.err;
  EXPECT_EQ(in_image.out, here.out);
  EXPECT_NE(in_image.out.find("reachprobe"), std::string::npos) << in_image.out;
}

TEST_F(ImageTest, RunsAsUser65532WithATrustStore) {
  auto run = locked_down({"-c",
                          "id -u; id -g; grep -c 'BEGIN CERTIFICATE' "
                          "/etc/ssl/certs/ca-certificates.crt"});
  run.entrypoint = "/bin/sh";
  auto r = run_container(run, 120s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::istringstream in(r.out);
  std::string uid, gid, certificates;
  in >> uid >> gid >> certificates;
  EXPECT_EQ(uid, "65532");
  EXPECT_EQ(gid, "65532");
  // Debian's bundle holds well over a hundred roots (Amazon's among them, which STS uses).
  EXPECT_GT(std::stoi(certificates), 100) << r.out;
}

// `check` on the loopback example, with no network but the container's own loopback: the
// config loads, `localhost` resolves from the container's /etc/hosts, and nothing listens,
// so each endpoint is `refused` (exit status 1), the same as the binary outside.
TEST_F(ImageTest, ChecksTheLoopbackConfigReadOnlyWithoutCapabilities) {
  auto r = run_container(
      locked_down({"check", "--config", kExamples + "/local.yaml", "--format", "json"}), 120s);
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  boost::property_tree::ptree tree;
  std::istringstream in(r.out);
  boost::property_tree::read_json(in, tree);
  std::map<std::string, std::string> results;
  for (const auto& [_, row] : tree.get_child("results")) {
    results[row.get<std::string>("target") + " " + row.get<std::string>("endpoint")] =
        row.get<std::string>("result");
  }
  const std::map<std::string, std::string> expected = {{"self 127.0.0.1:9754", "refused"},
                                                       {"self-by-name localhost:9754", "refused"},
                                                       {"closed-port 127.0.0.1:1", "refused"}};
  EXPECT_EQ(results, expected) << r.out;
}

// The image's default command (`run`, the built-in config) as a process in a network
// namespace of its own: ready, then a clean stop on SIGTERM (exit status 0) as PID 1.
TEST_F(ImageTest, RunServesReadinessAndStopsCleanly) {
  if (auto why = netns_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  TestHost host;
  auto run = locked_down({"run", "--listen", host.address() + ":9754"});
  run.network = "ns:/run/netns/" + host.name();
  const auto name = container_name();
  struct Remove {
    std::string name;
    ~Remove() { remove_container(name); }
  } remove{name};
  ChildProcess container(podman_run_argv(run, name));
  HttpResponse ready;
  ASSERT_TRUE(wait_until(
      [&] {
        ready = http_get(host.address(), 9754, "/readyz", 1s);
        return ready.status == 200;
      },
      60s, 200ms))
      << ready.status << " " << ready.error << "\n"
      << container.stderr_text();
  auto metrics = http_get(host.address(), 9754, "/metrics");
  EXPECT_NE(metrics.body.find("reachprobe_build_info"), std::string::npos) << metrics.body;
  auto stop = run_command(podman({"stop", "--time", "20", name}), 60s);
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_EQ(container.wait_for_exit(30s), std::optional<int>(0)) << container.stderr_text();
}

}  // namespace
}  // namespace reachprobe::test
