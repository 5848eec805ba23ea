#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>

#include "probe/engine/result_sink.hpp"

namespace reachprobe {

// State-change lines a node writes per window before it summarizes the rest, and the
// window. 100 per 10 s: the shipped EKS config has 84 endpoints at most (its
// alertmanager-pods fan-out at the default bound), so even its total outage is still one
// line per endpoint; a partition of 100,000 endpoints is 100 lines and one summary per
// target and result every 10 s, not 100,000 lines (docs/commands.md, on logs).
inline constexpr std::size_t kStateChangeLinesPerWindow = 100;
inline constexpr Duration kStateChangeWindow = std::chrono::seconds(10);

// Logs a change of an endpoint's state once (ok -> failing, failing -> ok, or a new failure
// reason), never a line per probe: 10,000 healthy endpoints make no noise. Past
// `lines_per_window` lines in a window, the further changes of that window are counted
// instead and written when it ends, one line per target, type, kind of change and result
// ("9,812 endpoints of target X started failing: refused"), exact in count. A dns fan-out
// cut by the default bound is logged once when it starts and once when it ends.
class StateChangeLogSink final : public ResultSink {
 public:
  struct Options {
    std::size_t lines_per_window = kStateChangeLinesPerWindow;
    Duration window = kStateChangeWindow;
    std::function<Clock::time_point()> now = [] { return Clock::now(); };
  };
  StateChangeLogSink() : StateChangeLogSink(Options{}) {}
  explicit StateChangeLogSink(Options options);
  // Writes what is still counted: nothing is lost at shutdown.
  ~StateChangeLogSink() override;
  StateChangeLogSink(const StateChangeLogSink&) = delete;
  StateChangeLogSink& operator=(const StateChangeLogSink&) = delete;

  void record(const Endpoint& endpoint, const ProbeResult& result) override;
  void forget(const Endpoint& endpoint) override;

  // Writes the summaries of a window that has ended (record() does too, but a summary must
  // not wait for the next state change: the daemon calls this on a timer). With `force`,
  // also those of the window still running.
  void flush(bool force = false);

  // Changes counted in summaries not written yet (for tests).
  std::size_t pending_changes() const;

 private:
  struct Known {
    Outcome outcome = Outcome::Ok;
    // Success as judged (a closed path's timeout is ok): a change between two successes
    // (timeout -> refused on a closed path) is no news.
    bool ok = true;
    bool fanout_cut = false;
  };
  enum class Change { StartedFailing, OtherFailure, Recovered };
  // A summary's line: target, type, change, result.
  using SummaryKey = std::tuple<std::string, std::string, Change, std::string>;
  struct Summary {
    std::size_t count = 0;
    std::string example_endpoint;
    std::string example_message;
  };
  void change(const Endpoint& endpoint, const ProbeResult& result, std::optional<Known> previous);
  void log_fanout_cut(const Endpoint& endpoint, const ProbeResult& result, Known& known);

  Options options_;
  std::unordered_map<std::string, Known> last_;
  std::optional<Clock::time_point> window_start_;
  std::size_t lines_in_window_ = 0;
  std::map<SummaryKey, Summary> summaries_;
};

// 9812 -> "9,812", for log lines people read.
std::string with_thousands(std::size_t n);

}  // namespace reachprobe
