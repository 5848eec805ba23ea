#include "probe/sinks/log_sink.hpp"

#include <fmt/format.h>

#include "probe/log/logging.hpp"

namespace reachprobe {

std::string with_thousands(std::size_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

StateChangeLogSink::StateChangeLogSink(Options options) : options_(std::move(options)) {}

StateChangeLogSink::~StateChangeLogSink() { flush(true); }

void StateChangeLogSink::record(const Endpoint& endpoint, const ProbeResult& result) {
  flush();
  auto [it, first] = last_.try_emplace(endpoint.key(), Known{result.outcome, result.ok(), false});
  log_fanout_cut(endpoint, result, it->second);
  if (first) {
    if (result.ok()) {
      // The first result of a healthy endpoint is not news (and not counted: debug only).
      log::event(spdlog::level::debug, "endpoint ok",
                 {{"target", endpoint.target_name()},
                  {"type", to_string(endpoint.type())},
                  {"endpoint", endpoint.label},
                  {"address", result.address},
                  {"result", to_string(result.outcome)}});
      return;
    }
    change(endpoint, result, std::nullopt);
    return;
  }
  Known& known = it->second;
  const bool same_state = known.ok == result.ok() && (known.ok || known.outcome == result.outcome);
  const Known previous = known;
  known.outcome = result.outcome;
  known.ok = result.ok();
  if (same_state) return;
  change(endpoint, result, previous);
}

void StateChangeLogSink::change(const Endpoint& endpoint, const ProbeResult& result,
                                std::optional<Known> previous) {
  const std::string_view type = to_string(endpoint.type());
  const std::string_view now = to_string(result.outcome);
  if (!window_start_) window_start_ = options_.now();
  if (lines_in_window_ >= options_.lines_per_window) {
    const Change kind = result.ok()                 ? Change::Recovered
                        : previous && !previous->ok ? Change::OtherFailure
                                                    : Change::StartedFailing;
    auto& summary =
        summaries_[SummaryKey{endpoint.target_name(), std::string(type), kind, std::string(now)}];
    if (summary.count++ == 0) {
      summary.example_endpoint = endpoint.label;
      summary.example_message = result.message;
    }
    return;
  }
  ++lines_in_window_;
  const std::string_view before = previous ? to_string(previous->outcome) : std::string_view();
  if (result.ok()) {
    log::event(spdlog::level::info, "endpoint recovered",
               {{"target", endpoint.target_name()},
                {"type", type},
                {"endpoint", endpoint.label},
                {"address", result.address},
                {"result", now},
                {"previous", before}});
  } else if (previous) {
    log::event(spdlog::level::warn, "endpoint failing",
               {{"target", endpoint.target_name()},
                {"type", type},
                {"endpoint", endpoint.label},
                {"address", result.address},
                {"result", now},
                {"previous", before},
                {"message", result.message}});
  } else {
    log::event(spdlog::level::warn, "endpoint failing",
               {{"target", endpoint.target_name()},
                {"type", type},
                {"endpoint", endpoint.label},
                {"address", result.address},
                {"result", now},
                {"message", result.message}});
  }
}

void StateChangeLogSink::log_fanout_cut(const Endpoint& endpoint, const ProbeResult& result,
                                        Known& known) {
  // Only a cut nobody configured is news; one by max_connect is what was asked for. A dns
  // probe that got no addresses says nothing about the fan-out and keeps the state.
  if (result.fanout.empty() && !result.fanout_cut) return;
  const bool cut = result.fanout_cut && result.fanout_cut->default_bound;
  if (cut == known.fanout_cut) return;
  known.fanout_cut = cut;
  if (cut) {
    log::event(spdlog::level::warn, "dns fan-out cut to the default bound",
               {{"target", endpoint.target_name()},
                {"endpoint", endpoint.label},
                {"addresses", std::to_string(result.fanout_cut->addresses)},
                {"connected", std::to_string(result.fanout_cut->connected)},
                {"fix", "set max_connect on the target to choose the number of addresses"}});
  } else {
    log::event(spdlog::level::info, "dns fan-out no longer cut",
               {{"target", endpoint.target_name()},
                {"endpoint", endpoint.label},
                {"addresses", std::to_string(result.fanout.size())}});
  }
}

void StateChangeLogSink::flush(bool force) {
  if (!window_start_) return;
  if (!force && options_.now() - *window_start_ < options_.window) return;
  for (const auto& [key, summary] : summaries_) {
    const auto& [target, type, kind, result] = key;
    const std::string count = std::to_string(summary.count);
    const std::string counted = fmt::format("{} {} of target {}", with_thousands(summary.count),
                                            summary.count == 1 ? "endpoint" : "endpoints", target);
    if (kind == Change::Recovered) {
      log::event(spdlog::level::info, counted + " recovered",
                 {{"target", target},
                  {"type", type},
                  {"result", result},
                  {"count", count},
                  {"example_endpoint", summary.example_endpoint}});
      continue;
    }
    log::event(
        spdlog::level::warn,
        fmt::format("{} {}: {}", counted,
                    kind == Change::StartedFailing ? "started failing" : "now fail with", result),
        {{"target", target},
         {"type", type},
         {"result", result},
         {"count", count},
         {"example_endpoint", summary.example_endpoint},
         {"example_message", summary.example_message}});
  }
  summaries_.clear();
  window_start_.reset();
  lines_in_window_ = 0;
}

std::size_t StateChangeLogSink::pending_changes() const {
  std::size_t n = 0;
  for (const auto& [key, summary] : summaries_) n += summary.count;
  return n;
}

void StateChangeLogSink::forget(const Endpoint& endpoint) { last_.erase(endpoint.key()); }

}  // namespace reachprobe
