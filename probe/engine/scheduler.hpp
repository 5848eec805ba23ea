#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "probe/core/endpoint.hpp"
#include "probe/engine/result_sink.hpp"
#include "probe/probers/prober_set.hpp"

namespace reachprobe {

// Slots fall on multiples of this within an interval. Endpoints whose slots coincide share
// the event loop's wake-up (one epoll_wait and one timerfd_settime for all of them) and their
// connects finish in one wake too: at 1,000 probes/s about 5 probes per wake instead of one,
// a syscall or more per probe saved (docs/benchmarks.md). Lag is still measured from the
// slot; 5 ms of a 10 s interval still spreads the endpoints evenly.
inline constexpr Duration kSlotGrain = std::chrono::milliseconds(5);

// Where in its interval an endpoint is probed: a stable hash of its identity, so N
// endpoints spread over the interval instead of firing together, and an endpoint keeps its
// slot across restarts and reloads (as Prometheus does with scrape offsets). A multiple of
// kSlotGrain.
Duration phase_offset(std::string_view key, Duration interval);

// The first slot (time_since_epoch = k * interval + offset) at or after `now`.
Clock::time_point next_slot(Clock::time_point now, Duration interval, Duration offset);

// Why a slot passed without a probe.
enum class SkipReason {
  Overloaded,  // max_in_flight probes were already running
  Late,        // the previous probe or the event loop ran past the slot
};

// What the scheduler tells about its own health, for metrics. Called on the event loop.
struct SchedulerObserver {
  // How late a probe started after its slot.
  std::function<void(const Endpoint&, Duration lag)> on_start;
  std::function<void(const Endpoint&, SkipReason, std::uint64_t slots)> on_skip;
};

// A fan-out endpoint (an address a dns probe connected to) that is missing from this many
// consecutive results is forgotten: pods churn, series must not pile up.
inline constexpr int kFanOutExpiryRounds = 3;

// Owns timing the way Envoy's health-checker base does: each endpoint runs on its interval
// at its phase offset, one probe at a time (never overlapping itself), each with a deadline
// of start + timeout. Probers only see the endpoint and the deadline.
class Scheduler {
 public:
  // At most `max_in_flight` probes run at once (0: no limit); a slot that comes when the
  // limit is reached is skipped, never queued, so overload cannot grow memory or lag.
  Scheduler(boost::asio::io_context& io, ResultSink& sink, std::size_t max_in_flight = 0);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Probes exactly `endpoints` with `probers` from now on. Endpoints that were already
  // running (same key and interval) keep their loop, slot and series and switch to the new
  // prober; new ones start at their slot; missing ones stop and the sink forgets them. A
  // probe in flight finishes with the prober it started with. An endpoint whose type has no
  // prober is ignored (config validation rejects those before they get here).
  void update(const std::vector<Endpoint>& endpoints, const ProberSet& probers);
  // Stops scheduling; a probe in flight finishes or is destroyed with the io_context, and
  // its result is dropped.
  void stop();

  std::size_t endpoint_count() const { return runners_.size(); }
  // Every endpoint has a result (the readiness condition of SPEC.md).
  bool all_probed_once() const;

  std::size_t in_flight() const { return in_flight_; }
  void set_max_in_flight(std::size_t n) { max_in_flight_ = n; }

  SchedulerObserver observer;

 private:
  struct Runner;
  void arm(const std::shared_ptr<Runner>& runner, Clock::time_point slot);
  void on_slot(const std::shared_ptr<Runner>& runner);
  void arm_next(const std::shared_ptr<Runner>& runner);
  boost::asio::awaitable<void> probe_slot(std::shared_ptr<Runner> runner);
  void record(Runner& runner, const Endpoint& endpoint, const ProbeResult& result);
  void retire(Runner& runner);

  boost::asio::io_context& io_;
  ResultSink& sink_;
  std::size_t max_in_flight_;
  std::size_t in_flight_ = 0;
  std::unordered_map<std::string, std::shared_ptr<Runner>> runners_;
  std::size_t unprobed_ = 0;
};

}  // namespace reachprobe
