#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>

#include "probe/core/probe_result.hpp"

namespace reachprobe {

// The instant by which a probe must have an answer. The scheduler sets it; probers only
// read it, so timing policy lives in one place.
struct Deadline {
  Clock::time_point at;

  static Deadline after(Duration d) { return Deadline{Clock::now() + d}; }
  bool passed() const { return Clock::now() >= at; }
  Duration remaining() const;
};

// Runs `on_expiry` once at the deadline, unless the guard is destroyed or disarmed first.
// A prober wraps each asynchronous step in one and cancels its socket from `on_expiry`; the
// step then completes with operation_aborted and `fired()` says it was the deadline.
// The handler shares state with the guard, so a timer that already fired but whose handler
// has not yet run can never touch a socket that is gone.
class ExpiryGuard {
 public:
  ExpiryGuard(const boost::asio::any_io_executor& executor, Deadline deadline,
              std::function<void()> on_expiry);
  ~ExpiryGuard();
  ExpiryGuard(const ExpiryGuard&) = delete;
  ExpiryGuard& operator=(const ExpiryGuard&) = delete;

  bool fired() const { return state_->fired; }
  void disarm();

 private:
  struct State {
    bool armed = true;
    bool fired = false;
    std::function<void()> on_expiry;
  };
  std::shared_ptr<State> state_;
  boost::asio::steady_timer timer_;
};

}  // namespace reachprobe
