// Google Benchmark micro-benchmarks of the per-probe and per-scrape hot paths that a
// profile of `reachprobe run` shows: recording a result into the metrics registry, the
// scheduler's slot arithmetic, and rendering /metrics with 10,000 endpoints.
//
//   build/tests/bench/bench_micro [--benchmark_filter=...]

#include <benchmark/benchmark.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "probe/core/endpoint.hpp"
#include "probe/core/probe_result.hpp"
#include "probe/engine/scheduler.hpp"
#include "probe/sinks/exposition.hpp"
#include "probe/sinks/metrics_sink.hpp"

namespace {

using reachprobe::Endpoint;
using reachprobe::ProbeResult;

std::vector<Endpoint> tcp_endpoints(int count) {
  auto target = std::make_shared<reachprobe::Target>();
  target->name = "bench";
  target->type = reachprobe::ProbeType::Tcp;
  target->interval = std::chrono::seconds(10);
  target->timeout = std::chrono::seconds(2);
  std::vector<Endpoint> out;
  out.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    Endpoint e;
    e.target = target;
    e.host = "127.77.0." + std::to_string(1 + i / 1000);
    e.port = static_cast<std::uint16_t>(21000 + i % 1000);
    e.label = reachprobe::join_host_port(e.host, e.port);
    out.push_back(std::move(e));
  }
  return out;
}

ProbeResult ok_result() {
  ProbeResult r;
  r.outcome = reachprobe::Outcome::Ok;
  r.address = "127.77.0.1";
  r.set_phase(reachprobe::Phase::Connect, std::chrono::microseconds(80));
  r.set_phase(reachprobe::Phase::Total, std::chrono::microseconds(95));
  return r;
}

// One probe's result into the registry, round-robin over 10,000 endpoints whose series
// exist (the steady state of a running daemon).
void BM_MetricsSinkRecord(benchmark::State& state) {
  reachprobe::MetricsSink sink;
  const auto endpoints = tcp_endpoints(10000);
  const auto result = ok_result();
  for (const auto& e : endpoints) sink.record(e, result);
  std::size_t i = 0;
  for (auto _ : state) {
    sink.record(endpoints[i], result);
    if (++i == endpoints.size()) i = 0;
  }
}
BENCHMARK(BM_MetricsSinkRecord);

void BM_EndpointKey(benchmark::State& state) {
  const auto endpoints = tcp_endpoints(1);
  for (auto _ : state) benchmark::DoNotOptimize(endpoints[0].key());
}
BENCHMARK(BM_EndpointKey);

void BM_NextSlot(benchmark::State& state) {
  const auto interval = std::chrono::seconds(10);
  const auto offset = reachprobe::phase_offset(
      "bench\x1f"
      "127.77.0.1:21000",
      interval);
  auto now = reachprobe::Clock::now();
  for (auto _ : state) {
    benchmark::DoNotOptimize(reachprobe::next_slot(now, interval, offset));
    now += std::chrono::microseconds(1);
  }
}
BENCHMARK(BM_NextSlot);

// What a scrape of /metrics costs the process with N endpoints: the per-endpoint families
// rendered from MetricsSink's storage.
void BM_Exposition(benchmark::State& state) {
  reachprobe::MetricsSink sink;
  const auto endpoints = tcp_endpoints(static_cast<int>(state.range(0)));
  const auto result = ok_result();
  for (const auto& e : endpoints) sink.record(e, result);
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string text;
    text.reserve(bytes);
    sink.render(text);
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Exposition)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

// The same series kept in prometheus-cpp (as MetricsSink did until 2026-11-25): Collect()
// and the daemon's text renderer. The comparison that made MetricsSink flat.
void BM_ExpositionPrometheusCpp(benchmark::State& state) {
  prometheus::Registry registry;
  auto& success = prometheus::BuildGauge().Name("reachprobe_probe_success").Register(registry);
  auto& duration =
      prometheus::BuildHistogram().Name("reachprobe_probe_duration_seconds").Register(registry);
  auto& probes = prometheus::BuildCounter().Name("reachprobe_probes_total").Register(registry);
  for (const auto& e : tcp_endpoints(static_cast<int>(state.range(0)))) {
    prometheus::Labels labels = {
        {"target", e.target_name()}, {"type", "tcp"}, {"dst", e.label}};
    success.Add(labels).Set(1);
    auto with = labels;
    with.emplace("result", "ok");
    probes.Add(with).Increment();
    with = labels;
    with.emplace("phase", "total");
    duration.Add(with, reachprobe::latency_buckets()).Observe(0.000095);
  }
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto text = reachprobe::render_text(registry.Collect());
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_ExpositionPrometheusCpp)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
