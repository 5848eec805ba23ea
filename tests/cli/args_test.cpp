#include <gtest/gtest.h>

#include "probe/cli/cli.hpp"

namespace reachprobe::cli {
namespace {

TEST(ParseArgs, Check) {
  auto r = parse_args(
      {"check", "--config", "c.yaml", "--target", "a", "--target=b", "--format", "json"});
  ASSERT_TRUE(r.options) << r.error;
  EXPECT_EQ(r.options->command, Command::Check);
  EXPECT_EQ(r.options->config_path, "c.yaml");
  EXPECT_EQ(r.options->targets, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(r.options->json);
}

TEST(ParseArgs, RunWithoutConfigUsesTheEmbeddedOne) {
  auto r = parse_args({"run", "--listen", "127.0.0.1:0", "--log-format", "json"});
  ASSERT_TRUE(r.options) << r.error;
  EXPECT_EQ(r.options->config_path, "");
  EXPECT_EQ(r.options->listen, "127.0.0.1:0");
  EXPECT_EQ(r.options->log_format, log::Format::Json);
}

TEST(ParseArgs, UsageErrorsSayWhat) {
  EXPECT_EQ(parse_args({}).error, "missing command");
  EXPECT_EQ(parse_args({"probe"}).error, "unknown command 'probe'");
  EXPECT_EQ(parse_args({"check"}).error, "check needs --config PATH");
  EXPECT_EQ(parse_args({"validate", "--config"}).error, "--config needs a value");
  EXPECT_EQ(parse_args({"check", "--config", "c", "--format", "xml"}).error,
            "--format must be table or json, not 'xml'");
  EXPECT_EQ(parse_args({"validate", "--config", "c", "--listen", "x"}).error,
            "unknown option '--listen' for validate");
  EXPECT_EQ(parse_args({"run", "--log-level", "loud"}).error,
            "--log-level must be debug, info, warn or error, not 'loud'");
}

TEST(ParseArgs, Version) {
  auto r = parse_args({"--version"});
  ASSERT_TRUE(r.options);
  EXPECT_EQ(r.options->command, Command::Version);
}

}  // namespace
}  // namespace reachprobe::cli

namespace reachprobe::cli {
namespace {

TEST(ParseArgs, CheckRemediation) {
  auto r = parse_args({"check", "--config", "c.yaml", "--remediation", "aws-cli"});
  ASSERT_TRUE(r.options) << r.error;
  EXPECT_EQ(r.options->remediation, "aws-cli");
  EXPECT_EQ(parse_args({"check", "--config", "c.yaml", "--remediation=terraform"})
                .options->remediation,
            "terraform");
  EXPECT_EQ(parse_args({"check", "--config", "c.yaml", "--remediation", "cdk"}).error,
            "--remediation must be terraform or aws-cli, not 'cdk'");
  EXPECT_NE(parse_args({"check", "--config", "c.yaml", "--remediation", "terraform", "--format",
                        "json"})
                .error.find("use one"),
            std::string::npos);
  EXPECT_EQ(parse_args({"run", "--remediation", "terraform"}).error,
            "unknown option '--remediation' for run");
}

}  // namespace
}  // namespace reachprobe::cli
