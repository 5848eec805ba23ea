#include "probe/engine/scheduler.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <set>
#include <thread>

namespace reachprobe {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

TEST(PhaseOffset, IsStableAndWithinTheInterval) {
  const Duration interval = 10s;
  for (int i = 0; i < 1000; ++i) {
    auto key =
        "t\x1f"
        "tcp\x1f" +
        std::to_string(i);
    auto a = phase_offset(key, interval);
    EXPECT_EQ(a, phase_offset(key, interval));
    EXPECT_GE(a, Duration::zero());
    EXPECT_LT(a, interval);
  }
}

TEST(PhaseOffset, SpreadsEndpointsEvenlyOverTheInterval) {
  // 10,000 endpoints that differ only in the port (the common case: one host, many
  // ports) land in 20 bins of the interval; each bin should hold about 500.
  const Duration interval = 10s;
  std::array<int, 20> bins{};
  for (int port = 1; port <= 10000; ++port) {
    auto key =
        "control-plane\x1f"
        "tcp\x1f"
        "10.0.0.10:" +
        std::to_string(port);
    auto bin = phase_offset(key, interval).count() * 20 / interval.count();
    ++bins[static_cast<std::size_t>(bin)];
  }
  auto [lo, hi] = std::minmax_element(bins.begin(), bins.end());
  EXPECT_GT(*lo, 400) << "a bin is nearly empty: offsets cluster";
  EXPECT_LT(*hi, 600) << "a bin is crowded: endpoints would burst together";
}

TEST(PhaseOffset, FallsOnTheSlotGrainSoEndpointsShareWakeUps) {
  const Duration interval = 10s;
  std::set<Duration> distinct;
  for (int port = 1; port <= 10000; ++port) {
    auto offset = phase_offset(
        "t\x1f"
        "tcp\x1f"
        "10.0.0.10:" +
            std::to_string(port),
        interval);
    EXPECT_EQ(offset % kSlotGrain, Duration::zero()) << offset.count();
    distinct.insert(offset);
  }
  // 2,000 slots of 5 ms for 10,000 endpoints: nearly every slot is used, by about 5 each.
  EXPECT_GT(distinct.size(), 1900u);
  EXPECT_LE(distinct.size(), static_cast<std::size_t>(interval / kSlotGrain));
}

TEST(PhaseOffset, KeepsFullResolutionForIntervalsShorterThanTenGrains) {
  const Duration interval = 20ms;
  bool off_grain = false;
  for (int i = 0; i < 100; ++i) {
    auto offset = phase_offset(
        "t\x1f"
        "tcp\x1f"
        "h:" +
            std::to_string(i),
        interval);
    EXPECT_LT(offset, interval);
    off_grain = off_grain || offset % std::chrono::microseconds(1) != Duration::zero();
  }
  EXPECT_TRUE(off_grain) << "short intervals would all land on a few instants";
}

TEST(NextSlot, IsTheFirstSlotAtOrAfterNow) {
  const Duration interval = 10s;
  const Duration offset = 3s;
  auto at = [](Duration d) {
    return Clock::time_point(std::chrono::duration_cast<Clock::duration>(d));
  };
  EXPECT_EQ(next_slot(at(100s), interval, offset), at(103s));
  EXPECT_EQ(next_slot(at(103s), interval, offset), at(103s));
  EXPECT_EQ(next_slot(at(103s + 1ns), interval, offset), at(113s));
  EXPECT_EQ(next_slot(at(1s), interval, offset), at(3s));
}

// A prober that takes `delay`, counts concurrent probes per endpoint and answers ok.
class FakeProber final : public Prober {
 public:
  explicit FakeProber(Duration delay) : delay_(delay) {}
  asio::awaitable<ProbeResult> probe(const Endpoint& endpoint, Deadline deadline) override {
    auto& in_flight = in_flight_[endpoint.label];
    ++in_flight;
    max_in_flight_ = std::max(max_in_flight_, in_flight);
    max_in_flight_total_ = std::max(max_in_flight_total_, ++in_flight_total_);
    deadlines_.push_back(deadline.at - Clock::now());
    asio::steady_timer t(co_await asio::this_coro::executor, delay_);
    co_await t.async_wait(asio::use_awaitable);
    --in_flight;
    --in_flight_total_;
    ++probes_[endpoint.label];
    ProbeResult r;
    r.outcome = Outcome::Ok;
    r.set_phase(Phase::Total, delay_);
    co_return r;
  }
  std::map<std::string, int> probes_;
  std::map<std::string, int> in_flight_;
  int max_in_flight_ = 0;
  int in_flight_total_ = 0;
  int max_in_flight_total_ = 0;
  std::vector<Duration> deadlines_;

 private:
  Duration delay_;
};

class RecordingSink final : public ResultSink {
 public:
  void record(const Endpoint& e, const ProbeResult& r) override {
    results.emplace_back(e.label, r.outcome);
  }
  void forget(const Endpoint& e) override { forgotten.push_back(e.label); }
  std::vector<std::pair<std::string, Outcome>> results;
  std::vector<std::string> forgotten;
};

std::shared_ptr<Target> tcp_target(std::string name, std::vector<std::uint16_t> ports,
                                   Duration interval, Duration timeout) {
  auto t = std::make_shared<Target>();
  t->name = std::move(name);
  t->type = ProbeType::Tcp;
  t->hosts = {"127.0.0.1"};
  t->ports = std::move(ports);
  t->interval = interval;
  t->timeout = timeout;
  return t;
}

TEST(Scheduler, ProbesEveryEndpointOnItsIntervalWithoutOverlap) {
  asio::io_context io;
  // The probe takes 40 ms of a 100 ms interval: never two at once for one endpoint.
  ProberSet probers;
  auto fake = std::make_unique<FakeProber>(40ms);
  auto* prober = fake.get();
  probers.add(ProbeType::Tcp, std::move(fake));
  RecordingSink sink;
  Scheduler scheduler(io, sink);
  scheduler.update(expand_endpoints({tcp_target("a", {1, 2, 3}, 100ms, 50ms)}), probers);
  EXPECT_EQ(scheduler.endpoint_count(), 3u);
  EXPECT_FALSE(scheduler.all_probed_once());

  io.run_for(1050ms);
  scheduler.stop();
  ASSERT_EQ(prober->probes_.size(), 3u);
  for (const auto& [label, count] : prober->probes_) {
    // 1.05 s of 100 ms slots: 10 or 11 probes (the first slot is within the first interval).
    EXPECT_GE(count, 9) << label;
    EXPECT_LE(count, 11) << label;
  }
  EXPECT_EQ(prober->max_in_flight_, 1);
  for (auto d : prober->deadlines_) {
    EXPECT_LE(d, Duration(50ms));
    EXPECT_GT(d, Duration(40ms)) << "the deadline is start + timeout";
  }
}

TEST(Scheduler, IsReadyOnceEveryEndpointHasAResult) {
  asio::io_context io;
  ProberSet probers;
  probers.add(ProbeType::Tcp, std::make_unique<FakeProber>(1ms));
  RecordingSink sink;
  Scheduler scheduler(io, sink);
  scheduler.update(expand_endpoints({tcp_target("a", {1, 2, 3, 4, 5}, 200ms, 100ms)}), probers);
  // Within one interval every endpoint reaches its slot.
  for (int i = 0; i < 100 && !scheduler.all_probed_once(); ++i) io.run_for(5ms);
  EXPECT_TRUE(scheduler.all_probed_once());
  EXPECT_GE(sink.results.size(), 5u);
}

TEST(Scheduler, UpdateKeepsUnchangedEndpointsAndForgetsRemovedOnes) {
  asio::io_context io;
  ProberSet probers;
  auto fake = std::make_unique<FakeProber>(1ms);
  auto* prober = fake.get();
  probers.add(ProbeType::Tcp, std::move(fake));
  RecordingSink sink;
  Scheduler scheduler(io, sink);
  auto a = tcp_target("a", {1, 2}, 50ms, 20ms);
  scheduler.update(expand_endpoints({a}), probers);
  io.run_for(120ms);
  const int before = prober->probes_["127.0.0.1:1"];
  EXPECT_GE(before, 1);

  auto a2 = tcp_target("a", {1, 3}, 50ms, 20ms);
  scheduler.update(expand_endpoints({a2}), probers);
  EXPECT_EQ(sink.forgotten, std::vector<std::string>{"127.0.0.1:2"});
  EXPECT_EQ(scheduler.endpoint_count(), 2u);
  io.run_for(200ms);
  scheduler.stop();
  EXPECT_GE(prober->probes_["127.0.0.1:3"], 2);
  // Port 1 kept its loop: one probe per slot, not an extra loop doubling the rate.
  const int after = prober->probes_["127.0.0.1:1"] - before;
  EXPECT_GE(after, 3);
  EXPECT_LE(after, 5);
  EXPECT_EQ(prober->max_in_flight_, 1);
}

TEST(Scheduler, OverloadSkipsSlotsInsteadOfQueueing) {
  asio::io_context io;
  ProberSet probers;
  // Each probe takes 60 ms of a 100 ms interval; with one probe allowed at a time, four
  // endpoints cannot all run: the extra slots are skipped and counted, never queued.
  auto fake = std::make_shared<FakeProber>(60ms);
  probers.add(ProbeType::Tcp, fake);
  RecordingSink sink;
  Scheduler scheduler(io, sink, 1);
  std::uint64_t overloaded = 0;
  std::vector<Duration> lags;
  scheduler.observer.on_skip = [&](const Endpoint&, SkipReason r, std::uint64_t n) {
    if (r == SkipReason::Overloaded) overloaded += n;
  };
  scheduler.observer.on_start = [&](const Endpoint&, Duration lag) { lags.push_back(lag); };
  scheduler.update(expand_endpoints({tcp_target("a", {1, 2, 3, 4}, 100ms, 80ms)}), probers);
  io.run_for(1000ms);
  scheduler.stop();
  EXPECT_EQ(fake->max_in_flight_total_, 1);
  EXPECT_GT(overloaded, 5u);
  int probes = 0;
  for (const auto& [label, n] : fake->probes_) probes += n;
  // About 10 slots per endpoint, 40 in all: each probe or skip accounts for one of them.
  EXPECT_GE(probes + static_cast<int>(overloaded), 34);
  EXPECT_LE(probes + static_cast<int>(overloaded), 44);
  // Every started probe has finished or is still in flight (a spawned one may not have begun).
  EXPECT_GE(lags.size(), static_cast<std::size_t>(probes));
  EXPECT_LE(lags.size(), static_cast<std::size_t>(probes) + scheduler.in_flight());
  for (auto lag : lags) EXPECT_LT(lag, Duration(20ms)) << "started at its slot, not queued";
}

TEST(Scheduler, SlotsThatFallDueInOneTurnStillRespectTheLimit) {
  asio::io_context io;
  ProberSet probers;
  auto fake = std::make_shared<FakeProber>(30ms);
  probers.add(ProbeType::Tcp, fake);
  RecordingSink sink;
  Scheduler scheduler(io, sink, 1);
  std::uint64_t overloaded = 0;
  scheduler.observer.on_skip = [&](const Endpoint&, SkipReason r, std::uint64_t n) {
    if (r == SkipReason::Overloaded) overloaded += n;
  };
  scheduler.update(expand_endpoints({tcp_target("a", {1, 2, 3, 4}, 100ms, 80ms)}), probers);
  // The loop is kept busy until every first slot is due, so all four timers complete in the
  // same turn, before any spawned probe has begun to run.
  const auto all_due = Clock::now() + 100ms;
  while (Clock::now() < all_due) std::this_thread::sleep_until(all_due);
  io.run_for(50ms);
  scheduler.stop();
  EXPECT_EQ(fake->max_in_flight_total_, 1);
  // The three that could not run, and any whose next slot came while the first still ran.
  EXPECT_GE(overloaded, 3u);
}

TEST(Scheduler, UpdateMovesKeptEndpointsToTheNewProbers) {
  asio::io_context io;
  RecordingSink sink;
  Scheduler scheduler(io, sink);
  auto old_prober = std::make_shared<FakeProber>(1ms);
  auto new_prober = std::make_shared<FakeProber>(1ms);
  ProberSet first, second;
  first.add(ProbeType::Tcp, old_prober);
  second.add(ProbeType::Tcp, new_prober);
  auto endpoints = expand_endpoints({tcp_target("a", {1}, 40ms, 20ms)});
  scheduler.update(endpoints, first);
  for (int i = 0; i < 100 && old_prober->probes_.empty(); ++i) io.run_for(5ms);
  scheduler.update(endpoints, second);
  const int old_count = old_prober->probes_["127.0.0.1:1"];
  for (int i = 0; i < 100 && new_prober->probes_.empty(); ++i) io.run_for(5ms);
  io.run_for(100ms);
  scheduler.stop();
  EXPECT_GE(new_prober->probes_["127.0.0.1:1"], 2);
  EXPECT_EQ(old_prober->probes_["127.0.0.1:1"], old_count) << "the old prober is no longer used";
  EXPECT_TRUE(sink.forgotten.empty()) << "the endpoint kept its series";
}

// Answers with the fan-out addresses of the current round: {a,b} first, then {b,c}.
class ChurningProber final : public Prober {
 public:
  asio::awaitable<ProbeResult> probe(const Endpoint&, Deadline) override {
    ProbeResult r;
    r.outcome = Outcome::Ok;
    r.set_phase(Phase::Total, 1ms);
    const std::vector<std::string> hosts =
        rounds_++ < 2 ? std::vector<std::string>{"198.18.0.1", "198.18.0.2"}
                      : std::vector<std::string>{"198.18.0.2", "198.18.0.3"};
    for (const auto& h : hosts) {
      ProbeResult child;
      child.outcome = h == "198.18.0.3" ? Outcome::Timeout : Outcome::Ok;
      r.fanout.push_back(FanOutResult{h, 9093, child});
    }
    co_return r;
  }
  int rounds_ = 0;
};

TEST(Scheduler, FanOutEndpointsThatStopAppearingExpireAfterThreeRounds) {
  asio::io_context io;
  ProberSet probers;
  auto churn = std::make_unique<ChurningProber>();
  auto* prober = churn.get();
  probers.add(ProbeType::Dns, std::move(churn));
  RecordingSink sink;
  Scheduler scheduler(io, sink);
  auto t = std::make_shared<Target>();
  t->name = "am";
  t->type = ProbeType::Dns;
  t->query = "alertmanager-operated.monitoring.svc";
  t->connect_port = 9093;
  t->interval = 20ms;
  t->timeout = 10ms;
  scheduler.update(expand_endpoints({t}), probers);

  auto recorded = [&](const std::string& label, Outcome o) {
    return std::count(sink.results.begin(), sink.results.end(), std::make_pair(label, o));
  };
  auto rounds_recorded = [&] {
    return recorded("alertmanager-operated.monitoring.svc", Outcome::Ok);
  };
  // Rounds 1-2 return a; rounds 3.. do not: a is forgotten with the 3rd round without it.
  for (int i = 0; i < 400 && rounds_recorded() < 4; ++i) io.run_one_for(5ms);
  ASSERT_EQ(rounds_recorded(), 4);
  EXPECT_TRUE(sink.forgotten.empty()) << "a was missed only twice so far";
  for (int i = 0; i < 400 && rounds_recorded() < 6; ++i) io.run_one_for(5ms);
  scheduler.stop();
  (void)prober;
  EXPECT_EQ(sink.forgotten, std::vector<std::string>{"198.18.0.1:9093"});
  EXPECT_EQ(recorded("198.18.0.1:9093", Outcome::Ok), 2);
  EXPECT_GE(recorded("198.18.0.2:9093", Outcome::Ok), 5);
  EXPECT_GE(recorded("198.18.0.3:9093", Outcome::Timeout), 3);
  EXPECT_GE(recorded("alertmanager-operated.monitoring.svc", Outcome::Ok), 5);
}

}  // namespace
}  // namespace reachprobe
