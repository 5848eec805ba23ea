#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace reachprobe::config {

// Go-style durations as Prometheus writes them: "250ms", "10s", "1m30s", "1h", "1.5s",
// "100us". A bare number is rejected: "10" could mean seconds or milliseconds.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);

// The shortest Go-style spelling, for messages ("1m30s").
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace reachprobe::config
