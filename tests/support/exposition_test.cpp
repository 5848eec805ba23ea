#include "tests/support/exposition.hpp"

#include <gtest/gtest.h>

#include <set>

namespace reachprobe::test {
namespace {

// A test that takes a listen port and twenty ports to probe wrote a config with a duplicate
// port once: a port released by one call was handed out again by the next. 500 calls draw
// from about 14,000 ports the kernel picks for port 0, where a repeat is near certain unless
// the helper prevents it.
TEST(FreeTcpPort, NeverHandsOutTheSamePortTwice) {
  std::set<std::uint16_t> seen;
  for (int i = 0; i < 500; ++i) {
    const auto port = free_tcp_port();
    EXPECT_NE(port, 0);
    EXPECT_TRUE(seen.insert(port).second) << "port " << port << " handed out twice, call " << i;
  }
}

}  // namespace
}  // namespace reachprobe::test
