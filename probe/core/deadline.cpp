#include "probe/core/deadline.hpp"

namespace reachprobe {

Duration Deadline::remaining() const {
  auto left = at - Clock::now();
  return left > Duration::zero() ? std::chrono::duration_cast<Duration>(left) : Duration::zero();
}

ExpiryGuard::ExpiryGuard(const boost::asio::any_io_executor& executor, Deadline deadline,
                         std::function<void()> on_expiry)
    : state_(std::make_shared<State>()), timer_(executor, deadline.at) {
  state_->on_expiry = std::move(on_expiry);
  timer_.async_wait([state = state_](const boost::system::error_code& ec) {
    if (ec || !state->armed) return;
    state->fired = true;
    state->armed = false;
    auto fn = std::move(state->on_expiry);
    if (fn) fn();
  });
}

ExpiryGuard::~ExpiryGuard() { disarm(); }

void ExpiryGuard::disarm() {
  state_->armed = false;
  state_->on_expiry = nullptr;
  timer_.cancel();
}

}  // namespace reachprobe
