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

// Where in its interval an endpoint is probed: a stable hash of its identity, so N
// endpoints spread over the interval instead of firing together, and an endpoint keeps its
// slot across restarts and reloads (as Prometheus does with scrape offsets).
Duration phase_offset(std::string_view key, Duration interval);

// The first slot (time_since_epoch = k * interval + offset) at or after `now`.
Clock::time_point next_slot(Clock::time_point now, Duration interval, Duration offset);

// How late a probe started after its slot, and how many slots were skipped because the
// previous probe or the event loop ran late. Handed out for lag metrics.
struct ScheduleTiming {
  Duration lag{};
  std::uint64_t skipped = 0;
};

// A fan-out endpoint (an address a dns probe connected to) that is missing from this many
// consecutive results is forgotten: pods churn, series must not pile up.
inline constexpr int kFanOutExpiryRounds = 3;

// Owns timing the way Envoy's health-checker base does: each endpoint runs on its interval
// at its phase offset, one probe at a time (never overlapping itself), each with a deadline
// of start + timeout. Probers only see the endpoint and the deadline.
class Scheduler {
 public:
  Scheduler(boost::asio::io_context& io, const ProberSet& probers, ResultSink& sink);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Probes exactly `endpoints` from now on. Endpoints that were already running (same key)
  // keep running undisturbed; new ones start at their slot; missing ones stop and the sink
  // forgets them. An endpoint whose type has no prober is ignored (config validation
  // rejects those before they get here).
  void update(const std::vector<Endpoint>& endpoints);
  // Stops scheduling; a probe in flight finishes or is destroyed with the io_context, and
  // its result is dropped.
  void stop();

  std::size_t endpoint_count() const { return runners_.size(); }
  // Every endpoint has a result (the readiness condition of SPEC.md).
  bool all_probed_once() const;

  std::function<void(const Endpoint&, const ScheduleTiming&)> on_timing;

 private:
  struct Runner;
  boost::asio::awaitable<void> run(std::shared_ptr<Runner> runner);
  void record(Runner& runner, const Endpoint& endpoint, const ProbeResult& result);
  void retire(Runner& runner);

  boost::asio::io_context& io_;
  const ProberSet& probers_;
  ResultSink& sink_;
  std::unordered_map<std::string, std::shared_ptr<Runner>> runners_;
  std::size_t unprobed_ = 0;
};

}  // namespace reachprobe
