#include "probe/http/auth.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <filesystem>

#include "tests/support/bcrypt.hpp"
#include "tests/support/test_pki.hpp"

namespace reachprobe::http {
namespace {

std::string basic(const std::string& user_password) {
  std::string out(4 * ((user_password.size() + 2) / 3), '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                  reinterpret_cast<const unsigned char*>(user_password.data()),
                  static_cast<int>(user_password.size()));
  return "Basic " + out;
}

TEST(BasicCredentials, DecodesUserAndPassword) {
  auto c = parse_basic_credentials(basic("prometheus:s3cr:et"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->first, "prometheus");
  EXPECT_EQ(c->second, "s3cr:et");
  EXPECT_EQ(parse_basic_credentials(basic("a:"))->second, "");
  EXPECT_EQ(parse_basic_credentials("basic " + basic("ab:c").substr(6))->first, "ab");
  EXPECT_FALSE(parse_basic_credentials(basic("no-colon")));
  EXPECT_FALSE(parse_basic_credentials("Basic !!!!"));
  EXPECT_FALSE(parse_basic_credentials("Basic abc"));
  EXPECT_FALSE(parse_basic_credentials("Bearer abc"));
  EXPECT_FALSE(parse_basic_credentials(""));
}

TEST(Authenticator, AVerifiedPasswordIsRememberedAndAWrongOneNever) {
  WebConfig config;
  config.basic_auth_users["prometheus"] = test::bcrypt_hash("right");
  Authenticator auth(config);
  const std::string good = basic("prometheus:right");
  EXPECT_EQ(auth.check(good), Authenticator::Verdict::NeedsBcrypt);
  EXPECT_TRUE(auth.verify_password(good));
  auth.remember(good);
  EXPECT_EQ(auth.check(good), Authenticator::Verdict::Allowed);

  const std::string wrong = basic("prometheus:wrong");
  EXPECT_EQ(auth.check(wrong), Authenticator::Verdict::NeedsBcrypt);
  EXPECT_FALSE(auth.verify_password(wrong));
  EXPECT_FALSE(auth.verify_password(basic("grafana:right")));
  EXPECT_EQ(auth.check("Bearer right"), Authenticator::Verdict::Denied) << "no token configured";
  EXPECT_EQ(auth.check(""), Authenticator::Verdict::Denied);
}

TEST(Authenticator, TheBearerTokenIsReReadWhenItsFileChanges) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("auth_test." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  test::write_file(dir / "token", "first\n");
  WebConfig config;
  config.bearer_token_file = (dir / "token").string();
  Authenticator auth(config);
  EXPECT_EQ(auth.check("Bearer first"), Authenticator::Verdict::Allowed);
  EXPECT_EQ(auth.check("bearer first"), Authenticator::Verdict::Allowed);
  EXPECT_EQ(auth.check("Bearer firs"), Authenticator::Verdict::Denied);
  test::write_file(dir / "token.new", "second");
  std::filesystem::rename(dir / "token.new", dir / "token");
  EXPECT_EQ(auth.check("Bearer first"), Authenticator::Verdict::Denied);
  EXPECT_EQ(auth.check("Bearer second"), Authenticator::Verdict::Allowed);
  EXPECT_EQ(auth.check(basic("a:b")), Authenticator::Verdict::Denied) << "no users configured";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace reachprobe::http
