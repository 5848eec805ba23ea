#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "probe/core/probe_result.hpp"

namespace reachprobe {

// Waits for non-blocking connects to finish, many at once, at the kernel's price: per socket
// one epoll_ctl (EPOLLOUT, one shot) and nothing on close (the socket leaves the epoll set when
// it is closed), per wake one epoll_wait on the io_context and one on the poller's own epoll
// set for every connect finished meanwhile. Deadlines cost no timer per connect: one timerfd
// in the same set is armed for the earliest deadline and, when it fires, for the earliest one
// left (about once per timeout when connects finish in time).
//
// An Asio socket costs more for the same wait: the FIONBIO ioctl on its first operation, a
// second epoll_ctl to add EPOLLOUT, a poll() in async_connect, a timer per probe, and an
// epoll_ctl DEL on close for a socket Asio did not open itself.
//
// One per io_context (an Asio service), used from the thread that runs it, like the rest.
class ConnectPoller : public boost::asio::execution_context::service {
 public:
  static inline boost::asio::execution_context::id id;
  using key_type = ConnectPoller;

  explicit ConnectPoller(boost::asio::execution_context& context);
  ~ConnectPoller() override;

  // The poller of the io_context behind `executor`, made on first use.
  static ConnectPoller& of(const boost::asio::any_io_executor& executor);

  // Completes when `fd`, a socket whose connect() said EINPROGRESS, is writable or has an
  // error (read SO_ERROR then), with boost::asio::error::timed_out at `deadline`, or with
  // operation_aborted when the io_context shuts down. `fd` stays open until then; close it
  // after (it is left in the poller's set, disabled, until it is closed).
  template <typename CompletionToken>
  auto async_wait_connected(int fd, Clock::time_point deadline, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(boost::system::error_code)>(
        [this, fd, deadline](auto handler) {
          using Handler = decltype(handler);
          auto executor = boost::asio::get_associated_executor(handler, *executor_);
          add(fd, deadline,
              std::make_unique<WaiterOf<Handler, decltype(executor)>>(std::move(handler),
                                                                      std::move(executor)));
        },
        token);
  }

  std::size_t pending() const { return pending_.size(); }

 private:
  struct Waiter {
    virtual ~Waiter() = default;
    virtual void complete(boost::system::error_code ec) = 0;
  };
  template <typename Handler, typename Executor>
  struct WaiterOf final : Waiter {
    WaiterOf(Handler h, Executor e) : handler(std::move(h)), executor(std::move(e)) {}
    void complete(boost::system::error_code ec) override {
      // Inline when called on the io_context's thread, as every completion here is: the
      // probe goes on without another trip through the event loop.
      boost::asio::dispatch(executor, [h = std::move(handler), ec]() mutable { h(ec); });
    }
    Handler handler;
    Executor executor;
  };
  struct Pending {
    Clock::time_point deadline;
    std::unique_ptr<Waiter> waiter;
  };

  void start(const boost::asio::any_io_executor& executor);
  void shutdown() override;
  void add(int fd, Clock::time_point deadline, std::unique_ptr<Waiter> waiter);
  void finish(std::uint64_t id, boost::system::error_code ec);
  void on_ready();
  void expire();
  void arm_timer(Clock::time_point at);
  void watch();

  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  std::optional<boost::asio::any_io_executor> executor_;
  std::optional<boost::asio::posix::stream_descriptor> events_;  // epoll_fd_, in the io_context
  bool watching_ = false;
  std::optional<Clock::time_point> timer_at_;
  std::uint64_t next_id_ = 1;  // 0 is the timer
  std::map<std::uint64_t, Pending> pending_;
  std::set<std::pair<Clock::time_point, std::uint64_t>> deadlines_;
};

}  // namespace reachprobe
