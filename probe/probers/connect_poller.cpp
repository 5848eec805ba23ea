#include "probe/probers/connect_poller.hpp"

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <cerrno>
#include <system_error>

namespace reachprobe {

namespace asio = boost::asio;

namespace {

constexpr std::uint64_t kTimerId = 0;

boost::system::error_code last_error() {
  return boost::system::error_code(errno, boost::system::system_category());
}

}  // namespace

ConnectPoller::ConnectPoller(asio::execution_context& context)
    : asio::execution_context::service(context) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer_fd_ < 0) {
    const int error = errno;
    ::close(epoll_fd_);
    throw std::system_error(error, std::system_category(), "timerfd_create");
  }
  // Edge-triggered: each expiry is reported once, and re-arming resets it, so the timer is
  // never read.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = kTimerId;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &ev) != 0) {
    const int error = errno;
    ::close(timer_fd_);
    ::close(epoll_fd_);
    throw std::system_error(error, std::system_category(), "epoll_ctl");
  }
}

ConnectPoller::~ConnectPoller() {
  events_.reset();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  ::close(timer_fd_);
}

ConnectPoller& ConnectPoller::of(const asio::any_io_executor& executor) {
  auto& poller = asio::use_service<ConnectPoller>(asio::query(executor, asio::execution::context));
  poller.start(executor);
  return poller;
}

void ConnectPoller::start(const asio::any_io_executor& executor) {
  if (events_) return;
  executor_.emplace(executor);
  events_.emplace(executor, epoll_fd_);
  epoll_fd_ = -1;  // the descriptor owns it now
}

void ConnectPoller::shutdown() {
  // The waiting handlers own the probes' coroutine frames: destroyed, not called, as Asio
  // does with its own pending operations.
  auto pending = std::move(pending_);
  pending_.clear();
  deadlines_.clear();
  pending.clear();
  events_.reset();
  executor_.reset();
}

void ConnectPoller::add(int fd, Clock::time_point deadline, std::unique_ptr<Waiter> waiter) {
  const std::uint64_t id = next_id_++;
  epoll_event ev{};
  // One shot: the connect finishes once; the socket's later events (data, FIN) are not ours.
  ev.events = EPOLLOUT | EPOLLONESHOT;
  ev.data.u64 = id;
  if (epoll_ctl(events_->native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    asio::post(*executor_,
               [waiter = std::move(waiter), ec = last_error()]() mutable { waiter->complete(ec); });
    return;
  }
  pending_.emplace(id, Pending{deadline, std::move(waiter)});
  deadlines_.emplace(deadline, id);
  // A timer that fired while nothing was pending went unseen: it counts as unarmed.
  if (!timer_at_ || deadline < *timer_at_ || *timer_at_ <= Clock::now()) arm_timer(deadline);
  watch();
}

void ConnectPoller::finish(std::uint64_t id, boost::system::error_code ec) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  auto waiter = std::move(it->second.waiter);
  deadlines_.erase({it->second.deadline, id});
  pending_.erase(it);
  waiter->complete(ec);
}

void ConnectPoller::watch() {
  if (watching_ || pending_.empty() || !events_) return;
  watching_ = true;
  events_->async_wait(asio::posix::stream_descriptor::wait_read,
                      [this](const boost::system::error_code& ec) {
                        watching_ = false;
                        if (ec == asio::error::operation_aborted) return;
                        on_ready();
                      });
}

void ConnectPoller::on_ready() {
  // Drained completely: the io_context sees this set edge-triggered.
  constexpr int kBatch = 64;
  epoll_event events[kBatch];
  bool timer_fired = false;
  for (;;) {
    const int n = epoll_wait(events_->native_handle(), events, kBatch, 0);
    if (n < 0 && errno == EINTR) continue;
    // Completions run the probes on inline; they may add sockets meanwhile (new ids).
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kTimerId) {
        timer_fired = true;
      } else {
        finish(events[i].data.u64, {});
      }
    }
    if (n < kBatch) break;
  }
  if (timer_fired) expire();
  watch();
}

void ConnectPoller::expire() {
  timer_at_.reset();
  const auto now = Clock::now();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    finish(deadlines_.begin()->second, asio::error::timed_out);
  }
  if (!deadlines_.empty() && (!timer_at_ || deadlines_.begin()->first < *timer_at_)) {
    arm_timer(deadlines_.begin()->first);
  }
}

void ConnectPoller::arm_timer(Clock::time_point at) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch());
  itimerspec spec{};
  const auto count = std::max<std::int64_t>(ns.count(), 1);  // 0 would disarm it
  spec.it_value.tv_sec = static_cast<time_t>(count / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(count % 1'000'000'000);
  timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
  timer_at_ = at;
}

}  // namespace reachprobe
