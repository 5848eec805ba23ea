#include "probe/core/duration_text.hpp"

#include <fmt/format.h>

namespace reachprobe {

std::string format_latency(Duration d) {
  const double s = std::chrono::duration<double>(d).count();
  // Each unit up to where its rounding would print the next one's "1000".
  if (s < 0.0009995) return fmt::format("{:.0f}us", s * 1e6);
  if (s < 0.99995) return fmt::format("{:.1f}ms", s * 1e3);
  return fmt::format("{:.2f}s", s);
}

}  // namespace reachprobe
