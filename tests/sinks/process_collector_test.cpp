#include "probe/sinks/process_collector.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>

namespace reachprobe {
namespace {

double value_of(const std::vector<prometheus::MetricFamily>& families, const std::string& name) {
  for (const auto& f : families) {
    if (f.name != name) continue;
    return f.type == prometheus::MetricType::Counter ? f.metric.at(0).counter.value
                                                     : f.metric.at(0).gauge.value;
  }
  ADD_FAILURE() << "no family " << name;
  return NAN;
}

TEST(ProcessCollector, OpenFdsFollowTheProcess) {
  ProcessCollector c;
  const double before = value_of(c.Collect(), "process_open_fds");
  const int fd = open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(value_of(c.Collect(), "process_open_fds"), before + 1);
  close(fd);
  EXPECT_EQ(value_of(c.Collect(), "process_open_fds"), before);
}

TEST(ProcessCollector, StartTimeMemoryAndCpuAreSane) {
  ProcessCollector c;
  // Burn a bounded amount of CPU so the counter has something to show.
  volatile double x = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  while (std::chrono::steady_clock::now() < until) x = x + std::sqrt(x + 1);
  auto families = c.Collect();
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double start = value_of(families, "process_start_time_seconds");
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 3600) << "the test started within the hour";
  EXPECT_GT(value_of(families, "process_resident_memory_bytes"), 1e6);
  EXPECT_GT(value_of(families, "process_virtual_memory_bytes"),
            value_of(families, "process_resident_memory_bytes"));
  EXPECT_GT(value_of(families, "process_cpu_seconds_total"), 0.0);
  EXPECT_GT(value_of(families, "process_max_fds"), 0.0);
}

TEST(ProcessCollector, AMissingProcIsNoCrashJustFewerSeries) {
  ProcessCollector c("/nonexistent");
  auto families = c.Collect();
  for (const auto& f : families) EXPECT_NE(f.name, "process_cpu_seconds_total");
}

}  // namespace
}  // namespace reachprobe
