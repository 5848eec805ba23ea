#include "probe/cli/loading.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "tests/support/temp_dir.hpp"

namespace reachprobe::cli {
namespace {

// The process's AWS_REGION, unset for the test and restored after it.
class WithoutAwsRegion : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* v = std::getenv("AWS_REGION")) saved_ = v;
    ::unsetenv("AWS_REGION");
  }
  void TearDown() override {
    if (saved_) ::setenv("AWS_REGION", saved_->c_str(), 1);
  }
  std::string write(const std::string& text) {
    const auto path = (dir_ / "c.yaml").string();
    std::ofstream(path) << text;
    return path;
  }
  std::optional<std::string> saved_;
  test::TempDir dir_{"reachprobe-loading"};
};

const char* kStsConfig =
    "aws: {imds: true}\n"
    "targets:\n"
    "  - {name: sts, type: tls, hosts: [\"sts.${AWS_REGION}.amazonaws.com\"], ports: [443]}\n";

TEST_F(WithoutAwsRegion, TheRegionComesFromTheEnvironmentThenImdsThenIsAnError) {
  aws::NodeFacts facts;
  facts.region = "ap-southeast-1";
  int asked = 0;
  auto source = [&]() -> const aws::NodeFacts* {
    ++asked;
    return &facts;
  };
  const auto path = write(kStsConfig);
  // 2. IMDS.
  auto from_imds = load_config(path, source);
  ASSERT_TRUE(from_imds.loaded);
  EXPECT_EQ(from_imds.loaded->config.targets[0].hosts[0], "sts.ap-southeast-1.amazonaws.com");
  EXPECT_EQ(asked, 1);
  // 1. The environment wins.
  ::setenv("AWS_REGION", "eu-central-1", 1);
  auto from_env = load_config(path, source);
  ASSERT_TRUE(from_env.loaded);
  EXPECT_EQ(from_env.loaded->config.targets[0].hosts[0], "sts.eu-central-1.amazonaws.com");
  ::unsetenv("AWS_REGION");
  // 3. Neither: the unset variable's error.
  facts.region.clear();
  auto neither = load_config(path, source);
  EXPECT_FALSE(neither.loaded);
  ASSERT_EQ(neither.errors.size(), 1u);
  EXPECT_NE(neither.errors[0].message.find("AWS_REGION is not set"), std::string::npos)
      << neither.errors[0].to_string();
}

TEST_F(WithoutAwsRegion, AConfigThatDoesNotAskNeverReadsImds) {
  int asked = 0;
  auto source = [&]() -> const aws::NodeFacts* {
    ++asked;
    return nullptr;
  };
  auto loaded = load_config(
      write("targets:\n  - {name: a, type: tcp, hosts: [10.0.0.1], ports: [443]}\n"), source);
  ASSERT_TRUE(loaded.loaded);
  EXPECT_EQ(asked, 0);
}

}  // namespace
}  // namespace reachprobe::cli
