#include "probe/core/deadline.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

namespace reachprobe {
namespace {

using namespace std::chrono_literals;

TEST(ExpiryGuard, FiresAtTheDeadline) {
  boost::asio::io_context io;
  int calls = 0;
  const auto start = Clock::now();
  ExpiryGuard guard(io.get_executor(), Deadline{start + 30ms}, [&] { ++calls; });
  io.run_for(1s);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(guard.fired());
  EXPECT_GE(Clock::now() - start, 30ms);
}

TEST(ExpiryGuard, NeverFiresOnceGone) {
  boost::asio::io_context io;
  int calls = 0;
  {
    ExpiryGuard guard(io.get_executor(), Deadline{Clock::now() + 10ms}, [&] { ++calls; });
  }
  io.run_for(50ms);
  EXPECT_EQ(calls, 0);
}

TEST(ExpiryGuard, DisarmBeforeTheDeadlineStopsIt) {
  boost::asio::io_context io;
  int calls = 0;
  ExpiryGuard guard(io.get_executor(), Deadline{Clock::now() + 20ms}, [&] { ++calls; });
  guard.disarm();
  io.run_for(60ms);
  EXPECT_EQ(calls, 0);
  EXPECT_FALSE(guard.fired());
}

TEST(Deadline, Remaining) {
  auto d = Deadline::after(1s);
  EXPECT_FALSE(d.passed());
  EXPECT_GT(d.remaining(), Duration(900ms));
  EXPECT_EQ(Deadline{Clock::now() - 1s}.remaining(), Duration::zero());
}

}  // namespace
}  // namespace reachprobe
