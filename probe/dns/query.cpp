#include "probe/dns/query.hpp"

#include <arpa/nameser.h>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>

namespace reachprobe::dns {
namespace {

// One query racing its deadline. Whichever of the c-ares callback and the deadline timer
// comes first completes it; the other finds `complete` empty.
struct PendingQuery {
  explicit PendingQuery(boost::asio::io_context& io) : deadline_timer(io) {}

  void finish(RawReply reply) {
    if (!complete) return;
    auto done = std::move(complete);
    complete = nullptr;
    deadline_timer.cancel();
    reply.latency = Clock::now() - started;
    done(std::move(reply));
  }

  Clock::time_point started = Clock::now();
  boost::asio::steady_timer deadline_timer;
  // Posts the reply to the awaiting coroutine, never runs it inline: c-ares may call back
  // from inside ares_search or ares_process_fd.
  std::function<void(RawReply)> complete;
};

RawReply timed_out() {
  RawReply reply;
  reply.status = ARES_ETIMEOUT;
  reply.deadline_passed = true;
  return reply;
}

RawReply destroyed() {
  RawReply reply;
  reply.status = ARES_EDESTRUCTION;
  return reply;
}

void on_reply(void* arg, int status, int /*timeouts*/, unsigned char* message, int size) {
  std::unique_ptr<std::shared_ptr<PendingQuery>> owner(
      static_cast<std::shared_ptr<PendingQuery>*>(arg));
  RawReply reply;
  reply.status = status;
  if (message != nullptr && size > 0) reply.message.assign(message, message + size);
  (*owner)->finish(std::move(reply));
}

void start(AresChannel& channel, const std::shared_ptr<PendingQuery>& query,
           const std::string& name, std::uint16_t type, Deadline deadline) {
  if (deadline.passed()) {
    query->finish(timed_out());
    return;
  }
  query->deadline_timer.expires_at(deadline.at);
  query->deadline_timer.async_wait([query](const boost::system::error_code& ec) {
    if (ec) return;
    query->finish(timed_out());
  });
  ares_search(channel.get(), name.c_str(), ns_c_in, type, &on_reply,
              new std::shared_ptr<PendingQuery>(query));
  channel.schedule_timeouts();
}

}  // namespace

boost::asio::awaitable<RawReply> search(std::weak_ptr<AresChannel> channel, std::string name,
                                        std::uint16_t type, Deadline deadline) {
  // The initiation captures only pointers into this frame, which outlives it: GCC 12 corrupts
  // non-trivially-copyable captures of an initiation passed into Boost 1.74's use_awaitable
  // coroutine (see resolver.cpp).
  const std::weak_ptr<AresChannel>* weak = &channel;
  const std::string* query_name = &name;
  co_return co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&,
                                                 void(RawReply)>(
      [weak, query_name, type, deadline](auto handler) {
        auto executor = boost::asio::get_associated_executor(handler);
        auto shared_handler = std::make_shared<decltype(handler)>(std::move(handler));
        auto complete = [executor, shared_handler](RawReply reply) {
          boost::asio::post(executor, [shared_handler, reply = std::move(reply)]() mutable {
            (*shared_handler)(std::move(reply));
          });
        };
        auto locked = weak->lock();
        if (!locked) {
          complete(destroyed());
          return;
        }
        auto query = std::make_shared<PendingQuery>(locked->io_context());
        query->complete = std::move(complete);
        start(*locked, query, *query_name, type, deadline);
      },
      boost::asio::use_awaitable);
}

}  // namespace reachprobe::dns
