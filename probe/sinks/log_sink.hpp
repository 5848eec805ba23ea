#pragma once

#include <string>
#include <unordered_map>

#include "probe/engine/result_sink.hpp"

namespace reachprobe {

// Logs a change of an endpoint's state once (ok -> failing, failing -> ok, or a new failure
// reason), never a line per probe: 10,000 healthy endpoints make no noise.
class StateChangeLogSink final : public ResultSink {
 public:
  void record(const Endpoint& endpoint, const ProbeResult& result) override;
  void forget(const Endpoint& endpoint) override;

 private:
  std::unordered_map<std::string, Outcome> last_;
};

}  // namespace reachprobe
