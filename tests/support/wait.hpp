#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace reachprobe::test {

// Polls `condition` until it holds or `limit` passes; returns whether it held. Tests wait
// on conditions with this, never on a fixed sleep.
inline bool wait_until(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(10),
                       std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(poll);
  }
  return condition();
}

}  // namespace reachprobe::test
