#include "probe/probers/classify.hpp"

#include <gtest/gtest.h>

#include <cerrno>

namespace reachprobe {
namespace {

boost::system::error_code sys(int e) {
  return boost::system::error_code(e, boost::system::system_category());
}

TEST(ClassifyConnectError, MapsErrnoToTheVocabulary) {
  EXPECT_EQ(classify_connect_error(sys(ECONNREFUSED)), Outcome::Refused);
  EXPECT_EQ(classify_connect_error(sys(EHOSTUNREACH)), Outcome::Unreachable);
  EXPECT_EQ(classify_connect_error(sys(ENETUNREACH)), Outcome::Unreachable);
  EXPECT_EQ(classify_connect_error(sys(ECONNRESET)), Outcome::Reset);
  EXPECT_EQ(classify_connect_error(sys(ETIMEDOUT)), Outcome::Timeout);
  EXPECT_EQ(classify_connect_error(sys(EADDRNOTAVAIL)), Outcome::Error);
  EXPECT_EQ(classify_connect_error(boost::system::error_code(1, boost::system::generic_category())),
            Outcome::Error);
}

TEST(ClassifyConnectError, MessagesNameThePeerAndTheCause) {
  auto m = describe_connect_error(sys(ECONNREFUSED), "10.0.0.1:9443");
  EXPECT_NE(m.find("10.0.0.1:9443"), std::string::npos);
  EXPECT_NE(m.find("nothing listens"), std::string::npos);
  EXPECT_NE(describe_connect_error(sys(EPERM), "x:1").find("local firewall"), std::string::npos);
  EXPECT_NE(describe_connect_error(sys(EINVAL), "x:1").find("x:1"), std::string::npos);
}

}  // namespace
}  // namespace reachprobe
