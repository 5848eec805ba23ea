#include "probe/sinks/process_collector.hpp"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace reachprobe {

namespace {

prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(m);
  return f;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Fields of /proc/<pid>/stat after the parenthesised command, which may hold spaces.
std::vector<std::string> stat_fields(const std::string& stat) {
  std::vector<std::string> fields;
  auto close = stat.rfind(')');
  if (close == std::string::npos) return fields;
  std::istringstream in(stat.substr(close + 2));
  std::string f;
  while (in >> f) fields.push_back(f);
  return fields;
}

double boot_time(const std::string& proc_root) {
  std::istringstream in(read_file(proc_root + "/stat"));
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double t = 0;
      in >> t;
      return t;
    }
  }
  return 0;
}

double count_fds(const std::string& proc_root) {
  DIR* dir = opendir((proc_root + "/self/fd").c_str());
  if (dir == nullptr) return 0;
  double n = 0;
  while (auto* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the descriptor of the directory being read
}

double max_fds(const std::string& proc_root) {
  std::istringstream in(read_file(proc_root + "/self/limits"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Max open files", 0) == 0) {
      std::istringstream fields(line.substr(14));
      std::string soft;
      fields >> soft;
      if (soft == "unlimited") return 0;
      try {
        return std::stod(soft);
      } catch (const std::exception&) {
        return 0;
      }
    }
  }
  return 0;
}

}  // namespace

ProcessCollector::ProcessCollector(std::string proc_root) : proc_root_(std::move(proc_root)) {}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  const auto fields = stat_fields(read_file(proc_root_ + "/self/stat"));
  // Field numbers of proc(5), counted from 3 (state) as index 0.
  constexpr std::size_t kUtime = 11, kStime = 12, kStartTime = 19, kVsize = 20, kRss = 21;
  if (fields.size() > kRss) {
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    try {
      const double cpu = (std::stod(fields[kUtime]) + std::stod(fields[kStime])) / ticks;
      out.push_back(family("process_cpu_seconds_total",
                           "Total user and system CPU time spent in seconds.",
                           prometheus::MetricType::Counter, cpu));
      out.push_back(family("process_resident_memory_bytes", "Resident memory size in bytes.",
                           prometheus::MetricType::Gauge, std::stod(fields[kRss]) * page));
      out.push_back(family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                           prometheus::MetricType::Gauge, std::stod(fields[kVsize])));
      out.push_back(family("process_start_time_seconds",
                           "Start time of the process since unix epoch in seconds.",
                           prometheus::MetricType::Gauge,
                           boot_time(proc_root_) + std::stod(fields[kStartTime]) / ticks));
    } catch (const std::exception&) {
      // A /proc we cannot read is no reason to fail a scrape: these series are just absent.
    }
  }
  out.push_back(family("process_open_fds", "Number of open file descriptors.",
                       prometheus::MetricType::Gauge, count_fds(proc_root_)));
  if (double m = max_fds(proc_root_); m > 0) {
    out.push_back(family("process_max_fds", "Maximum number of open file descriptors.",
                         prometheus::MetricType::Gauge, m));
  }
  return out;
}

}  // namespace reachprobe
