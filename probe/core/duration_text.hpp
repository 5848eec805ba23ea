#pragma once

#include <string>

#include "probe/core/probe_result.hpp"

namespace reachprobe {

// A latency as an operator reads it at a glance: "850us", "12.3ms", "2.00s".
std::string format_latency(Duration d);

}  // namespace reachprobe
