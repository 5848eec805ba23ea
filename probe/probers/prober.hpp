#pragma once

#include <boost/asio/awaitable.hpp>

#include "probe/core/deadline.hpp"
#include "probe/core/endpoint.hpp"
#include "probe/core/probe_result.hpp"

namespace reachprobe {

// One kind of probe (tcp, dns, ...). An implementation reads top to bottom like the
// protocol it speaks: resolve, connect, handshake, each step bounded by `deadline`, and
// returns what happened as a value. It never throws for network conditions, knows nothing
// of metrics, HTTP or config files, and does not retry: the scheduler owns timing.
class Prober {
 public:
  virtual ~Prober() = default;
  virtual boost::asio::awaitable<ProbeResult> probe(const Endpoint& endpoint,
                                                    Deadline deadline) = 0;
};

}  // namespace reachprobe
