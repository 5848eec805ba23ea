#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <optional>

#include "probe/core/endpoint.hpp"
#include "probe/probers/prober.hpp"

namespace reachprobe::test {

// Runs one probe to completion on `io` with the target's timeout as its deadline, bounded:
// a probe that does not finish within the timeout plus a margin fails the test.
inline ProbeResult probe_once(boost::asio::io_context& io, Prober& prober,
                              const Endpoint& endpoint) {
  using namespace std::chrono_literals;
  std::optional<ProbeResult> result;
  boost::asio::co_spawn(io, prober.probe(endpoint, Deadline::after(endpoint.target->timeout)),
                        [&](std::exception_ptr e, ProbeResult r) {
                          if (e) std::rethrow_exception(e);
                          result = std::move(r);
                        });
  const auto limit = Clock::now() + endpoint.target->timeout + 2s;
  while (!result && Clock::now() < limit) io.run_one_for(50ms);
  EXPECT_TRUE(result.has_value()) << "probe did not finish";
  return result.value_or(ProbeResult{});
}

}  // namespace reachprobe::test
