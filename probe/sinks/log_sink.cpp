#include "probe/sinks/log_sink.hpp"

#include "probe/log/logging.hpp"

namespace reachprobe {

void StateChangeLogSink::record(const Endpoint& endpoint, const ProbeResult& result) {
  auto [it, first] = last_.try_emplace(endpoint.key(), result.outcome);
  if (!first && it->second == result.outcome) return;
  const Outcome previous = it->second;
  it->second = result.outcome;

  const std::string_view type = to_string(endpoint.type());
  const std::string_view now = to_string(result.outcome);
  if (first) {
    // The first result of a healthy endpoint is not news; a failing one is.
    log::event(result.ok() ? spdlog::level::debug : spdlog::level::warn,
               result.ok() ? "endpoint ok" : "endpoint failing",
               {{"target", endpoint.target_name()},
                {"type", type},
                {"endpoint", endpoint.label},
                {"address", result.address},
                {"result", now},
                {"message", result.message}});
    return;
  }
  const std::string_view before = to_string(previous);
  if (result.ok()) {
    log::event(spdlog::level::info, "endpoint recovered",
               {{"target", endpoint.target_name()},
                {"type", type},
                {"endpoint", endpoint.label},
                {"address", result.address},
                {"result", now},
                {"previous", before}});
  } else {
    log::event(spdlog::level::warn, "endpoint failing",
               {{"target", endpoint.target_name()},
                {"type", type},
                {"endpoint", endpoint.label},
                {"address", result.address},
                {"result", now},
                {"previous", before},
                {"message", result.message}});
  }
}

void StateChangeLogSink::forget(const Endpoint& endpoint) { last_.erase(endpoint.key()); }

}  // namespace reachprobe
