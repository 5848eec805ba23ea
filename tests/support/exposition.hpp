#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace reachprobe::test {

// A loopback TCP port that was free a moment ago (bound to port 0, then released), for a
// daemon under test to listen on.
std::uint16_t free_tcp_port();

// The value of the sample whose name and labels are exactly `series` in a Prometheus text
// exposition, e.g. `reachprobe_probe_success{endpoint="a:1",target="t",type="tcp"}`.
std::optional<double> sample(const std::string& exposition, const std::string& series);

}  // namespace reachprobe::test
