#include "probe/engine/scheduler.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>

#include "probe/core/judge.hpp"
#include "probe/core/stable_hash.hpp"
#include "probe/log/logging.hpp"

namespace reachprobe {

namespace asio = boost::asio;

Duration phase_offset(std::string_view key, Duration interval) {
  if (interval <= Duration::zero()) return Duration::zero();
  // On the grain when the interval holds many of them; an interval too short for that keeps
  // the full resolution.
  const Duration grain = interval >= 10 * kSlotGrain ? kSlotGrain : Duration(1);
  const auto slots = static_cast<std::uint64_t>(interval / grain);
  return grain * static_cast<Duration::rep>(stable_hash(key) % slots);
}

Clock::time_point next_slot(Clock::time_point now, Duration interval, Duration offset) {
  const auto t = std::chrono::duration_cast<Duration>(now.time_since_epoch());
  const auto since_first = t - offset;
  auto k = since_first.count() / interval.count();
  if (since_first.count() < 0) k = 0;
  Duration slot = k * interval + offset;
  if (slot < t) slot += interval;
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(slot));
}

struct Scheduler::Runner {
  Runner(asio::io_context& io, Endpoint e, std::shared_ptr<Prober> p)
      : endpoint(std::move(e)), prober(std::move(p)), timer(io) {}
  Endpoint endpoint;
  std::shared_ptr<Prober> prober;
  asio::steady_timer timer;
  // Fixed for the runner's life: another interval makes another runner.
  Duration interval{};
  Duration offset{};
  Clock::time_point slot{};  // the slot armed, or being probed

  bool stopped = false;
  bool probed_once = false;
  struct Child {
    Endpoint endpoint;
    int missed = 0;
  };
  std::unordered_map<std::string, Child> children;
};

Scheduler::Scheduler(asio::io_context& io, ResultSink& sink, std::size_t max_in_flight)
    : io_(io), sink_(sink), max_in_flight_(max_in_flight) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::update(const std::vector<Endpoint>& endpoints, const ProberSet& probers) {
  std::unordered_map<std::string, std::shared_ptr<Runner>> next;
  for (const auto& endpoint : endpoints) {
    auto key = endpoint.key();
    if (next.count(key)) continue;
    auto prober = probers.find(endpoint.type());
    if (prober == nullptr) continue;
    auto it = runners_.find(key);
    if (it != runners_.end() &&
        it->second->endpoint.target->interval == endpoint.target->interval &&
        it->second->endpoint.target->labels == endpoint.target->labels &&
        it->second->endpoint.target->vantage == endpoint.target->vantage) {
      // Same endpoint, same slot, same series: keep its loop and state, take the new
      // settings (timeout, hint, ...). Another interval, other labels or another vantage make it a
      // new endpoint: its old series go, new ones start. A discovered peer that moved to another
      // node keeps its state but not its series: they carry the node as a label, and the old one
      // must not linger.
      if (it->second->endpoint.peer_node() != endpoint.peer_node() ||
          it->second->endpoint.peer_zone() != endpoint.peer_zone()) {
        sink_.forget(it->second->endpoint);
      }
      it->second->endpoint = endpoint;
      it->second->prober = std::move(prober);
      next.emplace(key, it->second);
      runners_.erase(it);
      continue;
    }
    auto runner = std::make_shared<Runner>(io_, endpoint, std::move(prober));
    runner->interval = endpoint.target->interval;
    runner->offset = phase_offset(key, runner->interval);
    next.emplace(key, runner);
    arm(runner, next_slot(Clock::now(), runner->interval, runner->offset));
  }
  for (auto& [key, runner] : runners_) retire(*runner);
  runners_ = std::move(next);
  unprobed_ = 0;
  for (const auto& [key, runner] : runners_) {
    if (!runner->probed_once) ++unprobed_;
  }
}

void Scheduler::stop() {
  for (auto& [key, runner] : runners_) {
    runner->stopped = true;
    runner->timer.cancel();
  }
  runners_.clear();
  unprobed_ = 0;
}

void Scheduler::retire(Runner& runner) {
  runner.stopped = true;
  runner.timer.cancel();
  for (auto& [key, child] : runner.children) sink_.forget(child.endpoint);
  runner.children.clear();
  sink_.forget(runner.endpoint);
}

void Scheduler::record(Runner& runner, const Endpoint& endpoint, const ProbeResult& result) {
  sink_.record(endpoint, result);
  for (auto& [key, child] : runner.children) ++child.missed;
  for (const auto& f : result.fanout) {
    Endpoint child{endpoint.target, f.host, f.port, join_host_port(f.host, f.port)};
    auto key = child.key();
    sink_.record(child, f.result);
    runner.children.insert_or_assign(std::move(key), Runner::Child{std::move(child), 0});
  }
  for (auto it = runner.children.begin(); it != runner.children.end();) {
    if (it->second.missed >= kFanOutExpiryRounds) {
      sink_.forget(it->second.endpoint);
      it = runner.children.erase(it);
    } else {
      ++it;
    }
  }
}

bool Scheduler::all_probed_once() const { return unprobed_ == 0; }

namespace {

void log_exception(const std::exception_ptr& e, const Endpoint& endpoint) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::event(spdlog::level::err, "probe failed with an exception",
               {{"endpoint", endpoint.label}, {"error", ex.what()}});
  } catch (...) {
    log::event(spdlog::level::err, "probe failed with an exception",
               {{"endpoint", endpoint.label}});
  }
}

}  // namespace

// Between probes an endpoint is its runner and a pending timer wait: no coroutine. A loop
// coroutine per endpoint kept two Asio frames alive (570 bytes, 5.7 MB with 10,000
// endpoints); the probe's own frames exist only while it runs.
void Scheduler::arm(const std::shared_ptr<Runner>& runner, Clock::time_point slot) {
  runner->slot = slot;
  runner->timer.expires_at(slot);
  runner->timer.async_wait([this, runner](const boost::system::error_code&) {
    // Checked first: a stopped runner may outlive its scheduler until the wait is cancelled.
    if (runner->stopped) return;
    on_slot(runner);
  });
}

void Scheduler::on_slot(const std::shared_ptr<Runner>& runner) {
  if (max_in_flight_ != 0 && in_flight_ >= max_in_flight_) {
    if (observer.on_skip) observer.on_skip(runner->endpoint, SkipReason::Overloaded, 1);
    arm_next(runner);
    return;
  }
  // Counted here, not when the coroutine starts: co_spawn only posts it, and slots that fall
  // due in the same turn of the loop would all pass the check above.
  ++in_flight_;
  asio::co_spawn(io_, probe_slot(runner), [this, runner](const std::exception_ptr& e) {
    if (e) log_exception(e, runner->endpoint);
    if (!runner->stopped) arm_next(runner);
  });
}

// The next slot after the one just served: skipped slots (the probe or the loop ran past
// them) are counted, never made up.
void Scheduler::arm_next(const std::shared_ptr<Runner>& runner) {
  const Runner& r = *runner;
  auto next = next_slot(Clock::now(), r.interval, r.offset);
  if (next <= r.slot) next = r.slot + r.interval;
  if (auto missed = static_cast<std::uint64_t>((next - r.slot) / r.interval) - 1; missed > 0) {
    if (observer.on_skip) observer.on_skip(r.endpoint, SkipReason::Late, missed);
  }
  arm(runner, next);
}

asio::awaitable<void> Scheduler::probe_slot(std::shared_ptr<Runner> runner) {
  // Copied: a reload may replace the runner's endpoint and prober while this probe runs.
  const Endpoint endpoint = runner->endpoint;
  const auto prober = runner->prober;
  const auto started = Clock::now();
  if (observer.on_start) observer.on_start(endpoint, started - runner->slot);
  ProbeResult result;
  try {
    result = co_await prober->probe(endpoint, Deadline{started + endpoint.target->timeout});
  } catch (const std::exception& e) {
    result.outcome = Outcome::Error;
    result.message = std::string("internal error: ") + e.what();
  }
  judge(*endpoint.target, result);
  --in_flight_;
  if (runner->stopped) co_return;

  if (!runner->probed_once) {
    runner->probed_once = true;
    if (unprobed_ > 0) --unprobed_;
  }
  record(*runner, endpoint, result);
}

}  // namespace reachprobe
