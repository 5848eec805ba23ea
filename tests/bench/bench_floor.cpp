// The floor of the benchmark: the least a prober can do for the same probes, with raw
// non-blocking sockets and one epoll loop. Nobody beats this; it is the kernel's cost.
//
//   tcp: socket, connect, wait for writable, SO_ERROR, close          (per probe)
//   dns: socket, connect, send an A query, wait, recv, check id, close (per probe)
//
// Probes start at a fixed rate (a periodic timerfd, one expiry per probe), round-robin over
// the endpoints, at most --max-inflight at once (a probe that would exceed it is skipped and
// counted), each bounded by --timeout-ms.
//
//   bench_floor --mode tcp --base-addr 127.77.0.1 --addrs 10 --base-port 21000 --ports 1000
//               --rate 1000 --seconds 30
//   bench_floor --mode dns --dns 127.77.0.1:21999 --names 10000 --rate 1000 --seconds 30
// Stops on SIGTERM/SIGINT or after --seconds; prints a summary line on stderr.

#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "tests/bench/bench_common.hpp"

namespace {

constexpr std::uint64_t kTimerTag = ~0ULL;
constexpr std::uint64_t kSignalTag = ~0ULL - 1;

struct Slot {
  int fd = -1;
  std::int64_t started = 0;
  std::uint16_t id = 0;
};

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv);
  const std::string mode = args.text("--mode", "tcp");
  const bool dns = mode == "dns";
  const auto grid = bench::Grid::from(args);
  const sockaddr_in server = dns ? bench::parse_ip_port(args.text("--dns", "")) : sockaddr_in{};
  const long names = args.number("--names", 1);
  const long rate = args.number("--rate", 1000);
  const long max_inflight = args.number("--max-inflight", 1000);
  const std::int64_t timeout = args.number("--timeout-ms", 2000) * 1'000'000LL;
  const std::int64_t end = bench::now_ns() + args.number("--seconds", 30) * 1'000'000'000LL;
  const long endpoints = dns ? names : grid.size();
  if (rate <= 0 || endpoints <= 0 || max_inflight <= 0) return 2;
  bench::raise_nofile();

  int ep = epoll_create1(EPOLL_CLOEXEC);
  auto add = [ep](int fd, std::uint32_t events, std::uint64_t data) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  };
  const int sfd = bench::stop_signal_fd();
  add(sfd, EPOLLIN, kSignalTag);

  const int tfd = bench::rate_timer_fd(rate);
  add(tfd, EPOLLIN, kTimerTag);

  std::vector<Slot> slots(static_cast<std::size_t>(max_inflight));
  std::vector<std::uint32_t> free_slots;
  for (long i = max_inflight - 1; i >= 0; --i) free_slots.push_back(static_cast<std::uint32_t>(i));
  std::uint64_t ok = 0, failed = 0, timed_out = 0, skipped = 0, next_endpoint = 0;
  std::uint32_t rng = 2463534242u;
  std::uint8_t buf[512];

  auto finish = [&](std::uint32_t index, bool success) {
    Slot& s = slots[index];
    close(s.fd);
    s.fd = -1;
    free_slots.push_back(index);
    success ? ++ok : ++failed;
  };

  auto launch = [&] {
    if (free_slots.empty()) {
      ++skipped;
      return;
    }
    const auto e = static_cast<long>(next_endpoint++ % static_cast<std::uint64_t>(endpoints));
    const auto index = free_slots.back();
    Slot& s = slots[index];
    s.fd = socket(AF_INET, (dns ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s.fd < 0) {
      ++failed;
      return;
    }
    s.started = bench::now_ns();
    const sockaddr_in peer = dns ? server : grid.at(static_cast<int>(e));
    int rc = connect(s.fd, reinterpret_cast<const sockaddr*>(&peer), sizeof peer);
    if (rc != 0 && errno != EINPROGRESS) {
      close(s.fd);
      s.fd = -1;
      ++failed;
      return;
    }
    free_slots.pop_back();
    if (dns) {
      rng ^= rng << 13;
      rng ^= rng >> 17;
      rng ^= rng << 5;
      s.id = static_cast<std::uint16_t>(rng);
      char name[64];
      std::snprintf(name, sizeof name, "n%ld.bench.test", e);
      auto len = bench::build_query(buf, sizeof buf, s.id, name);
      if (send(s.fd, buf, len, 0) != static_cast<ssize_t>(len)) {
        finish(index, false);
        return;
      }
    }
    if (add(s.fd, dns ? EPOLLIN : EPOLLOUT, index) != 0) finish(index, false);
  };

  epoll_event events[256];
  std::int64_t next_sweep = bench::now_ns() + 100'000'000;
  bool running = true;
  while (running && bench::now_ns() < end) {
    int n = epoll_wait(ep, events, 256, 100);
    for (int i = 0; i < n; ++i) {
      const auto tag = events[i].data.u64;
      if (tag == kSignalTag) {
        running = false;
      } else if (tag == kTimerTag) {
        std::uint64_t expirations = 0;
        if (read(tfd, &expirations, sizeof expirations) != sizeof expirations) continue;
        for (std::uint64_t k = 0; k < expirations; ++k) launch();
      } else {
        const auto index = static_cast<std::uint32_t>(tag);
        Slot& s = slots[index];
        if (s.fd < 0) continue;
        if (dns) {
          auto got = recv(s.fd, buf, sizeof buf, 0);
          if (got < 0 && errno == EAGAIN) continue;
          const bool match = got >= 12 && buf[0] == (s.id >> 8) && buf[1] == (s.id & 0xff);
          finish(index, match && (buf[3] & 0x0f) == 0);
        } else {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
          finish(index, err == 0);
        }
      }
    }
    if (const auto now = bench::now_ns(); now >= next_sweep) {
      next_sweep = now + 100'000'000;
      for (std::uint32_t i = 0; i < slots.size(); ++i) {
        if (slots[i].fd >= 0 && now - slots[i].started > timeout) {
          finish(i, false);
          ++timed_out;
          --failed;
        }
      }
    }
  }
  for (auto& s : slots) {
    if (s.fd >= 0) close(s.fd);
  }
  std::fprintf(stderr, "floor %s: ok %llu failed %llu timeout %llu skipped %llu\n", mode.c_str(),
               static_cast<unsigned long long>(ok), static_cast<unsigned long long>(failed),
               static_cast<unsigned long long>(timed_out),
               static_cast<unsigned long long>(skipped));
  close(tfd);
  close(sfd);
  close(ep);
  return 0;
}
