#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "probe/core/finding.hpp"
#include "probe/core/outcome.hpp"
#include "probe/core/phase.hpp"

namespace reachprobe {

using Clock = std::chrono::steady_clock;
using Duration = std::chrono::nanoseconds;

// Time since `start`, as phases are measured.
inline Duration since(Clock::time_point start) {
  return std::chrono::duration_cast<Duration>(Clock::now() - start);
}

struct FanOutResult;

// What one probe of one endpoint found. A plain value: probers produce it, sinks consume
// it, nobody needs to know who made it.
struct ProbeResult {
  Outcome outcome = Outcome::Error;
  // Latency of each phase that took place; a failed phase keeps the time until failure.
  std::array<std::optional<Duration>, kPhaseCount> phases{};
  // The IP actually contacted ("10.0.0.1:443" form is built by the sink), empty if none.
  std::string address;
  // Why, in words an operator can act on; empty for ok.
  std::string message;
  // What the probe proved beyond the outcome when that changes the fix (see Finding).
  Finding finding = Finding::None;
  // Further endpoints the probe found and probed itself: a dns probe with connect_port
  // connects to every address it resolved. Each is its own series ("IP:port") under the
  // same target; the scheduler expires those that stop appearing.
  std::vector<FanOutResult> fanout;
  // A dns probe with connect_port whose answer held more addresses than it connected to.
  struct FanOutCut {
    std::size_t addresses = 0;   // in the answer
    std::size_t connected = 0;   // the bound: max_connect, or kDefaultMaxConnect without it
    bool default_bound = false;  // no max_connect: nobody chose this bound
  };
  std::optional<FanOutCut> fanout_cut;
  // A dns probe: how many records of the asked type the last reply held (0 for NXDOMAIN,
  // SERVFAIL, ... and empty answers); empty when no reply came. Other probes leave it empty.
  std::optional<std::size_t> answers;
  // A tls or https probe: when the leaf certificate the server presented stops being valid.
  // Set whenever a certificate came, also when verification failed (an expired one is then
  // the reason), so alerts can warn before the handshake starts failing.
  std::optional<std::chrono::system_clock::time_point> cert_not_after;
  // An http probe: the status of the last response, if one came.
  std::optional<int> http_status;

  bool ok() const { return outcome == Outcome::Ok; }
  std::optional<Duration> phase(Phase p) const { return phases[static_cast<std::size_t>(p)]; }
  void set_phase(Phase p, Duration d) { phases[static_cast<std::size_t>(p)] = d; }
};

struct FanOutResult {
  std::string host;  // the IP contacted
  std::uint16_t port = 0;
  ProbeResult result;
};

}  // namespace reachprobe
