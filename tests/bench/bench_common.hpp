#pragma once

// Shared by the benchmark harness's small programs (listener, floor, load client): plain
// POSIX, no library, so the floor measures the kernel and nothing else.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

inline std::int64_t now_ns(clockid_t clock = CLOCK_MONOTONIC) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Raises the soft open-file limit to the hard one; returns the limit in force.
inline rlim_t raise_nofile() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur;
}

// SIGTERM and SIGINT as a readable descriptor (blocked as signals), so that each program's
// epoll loop stops cleanly when the harness stops it by its PID.
inline int stop_signal_fd() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

// A periodic timerfd expiring `rate` times a second: one expiry per probe or request.
inline int rate_timer_fd(long rate) {
  const int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  itimerspec period{};
  const long step = 1'000'000'000L / rate;
  period.it_interval.tv_sec = step / 1'000'000'000L;
  period.it_interval.tv_nsec = step % 1'000'000'000L;
  period.it_value = period.it_interval;
  timerfd_settime(fd, 0, &period, nullptr);
  return fd;
}

[[noreturn]] inline void die(const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// `--name value` options, all numeric or text; unknown options are an error.
class Args {
 public:
  Args(int argc, char** argv) : argv_(argv + 1, argv + argc) {}
  std::string text(std::string_view name, std::string fallback) const {
    for (std::size_t i = 0; i + 1 < argv_.size(); ++i) {
      if (argv_[i] == name) return argv_[i + 1];
    }
    return fallback;
  }
  long number(std::string_view name, long fallback) const {
    auto t = text(name, "");
    return t.empty() ? fallback : std::strtol(t.c_str(), nullptr, 10);
  }
  bool flag(std::string_view name) const {
    for (const auto& a : argv_) {
      if (a == name) return true;
    }
    return false;
  }

 private:
  std::vector<std::string> argv_;
};

// The endpoints of a benchmark: `addrs` consecutive IPv4 addresses from `base_addr` times
// `ports` consecutive ports from `base_port`, address-major (the order of a reachprobe
// target's hosts x ports).
struct Grid {
  in_addr_t base_addr = 0;  // host byte order
  int addrs = 1;
  int base_port = 21000;
  int ports = 1;

  static Grid from(const Args& args) {
    Grid g;
    in_addr a{};
    if (inet_pton(AF_INET, args.text("--base-addr", "127.77.0.1").c_str(), &a) != 1) {
      std::fprintf(stderr, "bad --base-addr\n");
      std::exit(2);
    }
    g.base_addr = ntohl(a.s_addr);
    g.addrs = static_cast<int>(args.number("--addrs", 1));
    g.base_port = static_cast<int>(args.number("--base-port", 21000));
    g.ports = static_cast<int>(args.number("--ports", 1));
    return g;
  }
  int size() const { return addrs * ports; }
  sockaddr_in at(int i) const {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(base_addr + static_cast<in_addr_t>(i / ports));
    sa.sin_port = htons(static_cast<std::uint16_t>(base_port + i % ports));
    return sa;
  }
};

inline sockaddr_in parse_ip_port(const std::string& text) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  auto colon = text.rfind(':');
  if (colon == std::string::npos ||
      inet_pton(AF_INET, text.substr(0, colon).c_str(), &sa.sin_addr) != 1) {
    std::fprintf(stderr, "bad IP:PORT '%s'\n", text.c_str());
    std::exit(2);
  }
  sa.sin_port = htons(static_cast<std::uint16_t>(std::atoi(text.c_str() + colon + 1)));
  return sa;
}

// A DNS query for an A record of `name` (no trailing dot), recursion desired.
inline std::size_t build_query(std::uint8_t* out, std::size_t cap, std::uint16_t id,
                               std::string_view name) {
  if (cap < name.size() + 18) return 0;
  std::size_t n = 0;
  const std::uint8_t header[12] = {static_cast<std::uint8_t>(id >> 8),
                                   static_cast<std::uint8_t>(id & 0xff),
                                   0x01,
                                   0x00,
                                   0,
                                   1,
                                   0,
                                   0,
                                   0,
                                   0,
                                   0,
                                   0};
  std::memcpy(out, header, sizeof header);
  n = sizeof header;
  while (!name.empty()) {
    auto dot = name.find('.');
    auto label = name.substr(0, dot);
    out[n++] = static_cast<std::uint8_t>(label.size());
    std::memcpy(out + n, label.data(), label.size());
    n += label.size();
    name = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
  }
  out[n++] = 0;
  out[n++] = 0;
  out[n++] = 1;  // A
  out[n++] = 0;
  out[n++] = 1;  // IN
  return n;
}

}  // namespace bench
