#include "probe/http/web_config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "tests/support/test_pki.hpp"

namespace reachprobe::http {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// bcrypt-shaped: the loader checks the form of a hash; auth_test checks real ones.
constexpr const char* kHash = "$2y$04$kZ8bZD7W8rOyK6y6R3K2eOq1pE2zqYH1xP8sD6rPmbJv0r6dJm3xK";

class WebConfigTest : public ::testing::Test {
 protected:
  WebConfigTest() {
    dir_ = fs::temp_directory_path() /
           ("web_config_test." + std::to_string(::getpid()) + "." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    test::write_file(dir_ / "tls.crt", "cert");
    test::write_file(dir_ / "tls.key", "key");
  }
  ~WebConfigTest() override { fs::remove_all(dir_); }

  WebConfigLoad load(const std::string& text) {
    test::write_file(dir_ / "web.yml", text);
    return load_web_config((dir_ / "web.yml").string());
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string at(int line, int column) const {
    return path("web.yml") + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  }

  fs::path dir_;
};

TEST_F(WebConfigTest, TlsUsersAndTokenAsPrometheusWritesThem) {
  auto r = load("tls_server_config:\n  cert_file: " + path("tls.crt") + "\n  key_file: " +
                path("tls.key") + "\n  min_version: TLS13\nbasic_auth_users:\n  prometheus: '" +
                kHash + "'\nbearer_token_file: " + path("tls.key") + "\n");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(r.errors);
  ASSERT_TRUE(r.config->tls);
  EXPECT_EQ(r.config->tls->cert_file, path("tls.crt"));
  EXPECT_TRUE(r.config->tls->tls13_only);
  EXPECT_EQ(r.config->basic_auth_users.at("prometheus"), kHash);
  EXPECT_TRUE(r.config->requires_auth());
}

TEST_F(WebConfigTest, AnEmptyFileIsNeitherTlsNorAuth) {
  auto r = load("");
  ASSERT_TRUE(r.config);
  EXPECT_FALSE(r.config->tls);
  EXPECT_FALSE(r.config->requires_auth());
}

TEST_F(WebConfigTest, EveryProblemIsReportedWithItsPosition) {
  auto r = load(
      "tls_server_config:\n  cert_file: " + path("tls.crt") +
      "\n  client_auth_type: Maybe\nbasic_auth_users:\n  alice: plaintext\nbearer_token_file: " +
      path("absent") + "\nweb_config: 1\n");
  EXPECT_FALSE(r.config);
  EXPECT_THAT(r.errors,
              ElementsAre(HasSubstr(at(3, 21) + "'client_auth_type' must be NoClientCert"),
                          at(2, 3) + "'tls_server_config' needs both 'cert_file' and 'key_file'",
                          HasSubstr(at(5, 10) + "the password of 'alice' must be a bcrypt hash"),
                          at(6, 20) + "'bearer_token_file': cannot read " + path("absent"),
                          HasSubstr(at(7, 1) + "unknown key 'web_config'")));
}

TEST_F(WebConfigTest, ClientAuthNeedsACa) {
  auto r = load("tls_server_config:\n  cert_file: " + path("tls.crt") + "\n  key_file: " +
                path("tls.key") + "\n  client_auth_type: RequireAndVerifyClientCert\n");
  EXPECT_THAT(r.errors, ElementsAre(HasSubstr("'client_auth_type' needs 'client_ca_file'")));
}

TEST_F(WebConfigTest, SyntaxErrorsAndMissingFilesAreErrorsNotCrashes) {
  EXPECT_THAT(load("tls_server_config: [\n").errors, ElementsAre(HasSubstr("YAML syntax error")));
  EXPECT_THAT(load("- a\n").errors, ElementsAre(HasSubstr("the web config must be a map")));
  EXPECT_THAT(load("basic_auth_users: [a]\n").errors,
              ElementsAre(HasSubstr("'basic_auth_users' must be a map")));
  EXPECT_THAT(load_web_config(path("nope.yml")).errors,
              ElementsAre(path("nope.yml") + ":0:0: cannot read the web config file"));
}

}  // namespace
}  // namespace reachprobe::http
