#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace reachprobe {

// The standard process metrics of the Prometheus client libraries (process_cpu_seconds_total,
// process_resident_memory_bytes, ...), read from /proc at scrape time. prometheus-cpp has
// none, and dashboards and the fleet-cost figures rely on these names.
class ProcessCollector final : public prometheus::Collectable {
 public:
  explicit ProcessCollector(std::string proc_root = "/proc");
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string proc_root_;
};

}  // namespace reachprobe
