#include "probe/core/duration_text.hpp"

#include <fmt/format.h>

namespace reachprobe {

std::string format_latency(Duration d) {
  const double s = std::chrono::duration<double>(d).count();
  if (s < 0.001) return fmt::format("{:.0f}us", s * 1e6);
  if (s < 1) return fmt::format("{:.1f}ms", s * 1e3);
  return fmt::format("{:.2f}s", s);
}

}  // namespace reachprobe
