#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace reachprobe {

// Phases of a probe, in the order they happen. `Total` is measured on every probe; the
// others only where the probe has them (a tcp probe of an IP literal has no dns phase).
enum class Phase : std::size_t { Dns, Connect, Tls, FirstByte, Total };

inline constexpr std::size_t kPhaseCount = 5;
inline constexpr std::array kAllPhases = {Phase::Dns, Phase::Connect, Phase::Tls, Phase::FirstByte,
                                          Phase::Total};

constexpr std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::Dns:
      return "dns";
    case Phase::Connect:
      return "connect";
    case Phase::Tls:
      return "tls";
    case Phase::FirstByte:
      return "first_byte";
    case Phase::Total:
      return "total";
  }
  return "total";
}

}  // namespace reachprobe
