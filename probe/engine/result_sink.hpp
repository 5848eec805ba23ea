#pragma once

#include <vector>

#include "probe/core/endpoint.hpp"
#include "probe/core/probe_result.hpp"

namespace reachprobe {

// Where the scheduler hands each result: metrics, logs, `check` output. Sinks run on the
// io_context thread and must be quick; they never see how a result was produced.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual void record(const Endpoint& endpoint, const ProbeResult& result) = 0;
  // The endpoint is gone (reload, a dns answer that changed): drop what is kept of it.
  virtual void forget(const Endpoint& endpoint) { (void)endpoint; }
};

// Hands every result to several sinks in order.
class FanOutSink final : public ResultSink {
 public:
  explicit FanOutSink(std::vector<ResultSink*> sinks) : sinks_(std::move(sinks)) {}
  void record(const Endpoint& endpoint, const ProbeResult& result) override {
    for (auto* s : sinks_) s->record(endpoint, result);
  }
  void forget(const Endpoint& endpoint) override {
    for (auto* s : sinks_) s->forget(endpoint);
  }

 private:
  std::vector<ResultSink*> sinks_;
};

}  // namespace reachprobe
