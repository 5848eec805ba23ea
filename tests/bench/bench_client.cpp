// The load client for blackbox_exporter, which probes only when asked: it requests
// /probe?module=M&target=T at a fixed rate over --connections keep-alive HTTP/1.1
// connections to 127.0.0.1, round-robin over the grid's endpoints (tcp) or always the one
// DNS server (dns). A request that finds no idle connection is skipped and counted. Runs in
// its own process, so its CPU is not the prober's.
//
//   bench_client --exporter 127.0.0.1:PORT --module tcp_connect --base-addr ... --addrs ...
//                --base-port ... --ports ... --rate 1000 --seconds 30 [--connections 32]
//   bench_client --exporter 127.0.0.1:PORT --module dns --dns-target 127.77.0.1:21999 ...
// Stops on SIGTERM/SIGINT or after --seconds; prints a summary line on stderr.

#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cctype>

#include "tests/bench/bench_common.hpp"

namespace {

constexpr std::uint64_t kTimerTag = ~0ULL;
constexpr std::uint64_t kSignalTag = ~0ULL - 1;

struct Conn {
  int fd = -1;
  bool busy = false;
  std::int64_t sent_at = 0;
  std::string in;
};

// The length of a complete response at the start of `in`, or 0 while incomplete.
std::size_t complete_response(const std::string& in) {
  auto head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos) return 0;
  const std::size_t body = head_end + 4;
  std::string head = in.substr(0, head_end);
  for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto p = head.find("content-length:"); p != std::string::npos) {
    auto length = std::strtoul(head.c_str() + p + 15, nullptr, 10);
    return in.size() >= body + length ? body + length : 0;
  }
  if (head.find("transfer-encoding: chunked") != std::string::npos) {
    auto last = in.find("\r\n0\r\n\r\n", body - 2);
    return last == std::string::npos ? 0 : last + 7;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv);
  const auto exporter = bench::parse_ip_port(args.text("--exporter", ""));
  const std::string module = args.text("--module", "tcp_connect");
  const std::string dns_target = args.text("--dns-target", "");
  const auto grid = bench::Grid::from(args);
  const long rate = args.number("--rate", 1000);
  const long connections = args.number("--connections", 32);
  const std::int64_t end = bench::now_ns() + args.number("--seconds", 30) * 1'000'000'000LL;
  if (rate <= 0 || connections <= 0) return 2;
  bench::raise_nofile();

  int ep = epoll_create1(EPOLL_CLOEXEC);
  const int sfd = bench::stop_signal_fd();
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kSignalTag;
  epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
  const int tfd = bench::rate_timer_fd(rate);
  ev.data.u64 = kTimerTag;
  epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);

  std::vector<Conn> conns(static_cast<std::size_t>(connections));
  std::uint64_t sent = 0, success = 0, failure = 0, errors = 0, skipped = 0, next = 0;

  auto drop = [&](Conn& c) {
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    c.busy = false;
    c.in.clear();
  };
  auto open_conn = [&](Conn& c, std::uint64_t index) {
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return false;
    if (connect(c.fd, reinterpret_cast<const sockaddr*>(&exporter), sizeof exporter) != 0) {
      drop(c);
      return false;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{1, 0};
    setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = index;
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &e);
    return true;
  };
  auto request = [&] {
    for (std::size_t i = 0; i < conns.size(); ++i) {
      Conn& c = conns[i];
      if (c.busy) continue;
      if (c.fd < 0 && !open_conn(c, i)) {
        ++errors;
        return;
      }
      std::string target = dns_target;
      if (target.empty()) {
        auto sa = grid.at(static_cast<int>(next++ % static_cast<std::uint64_t>(grid.size())));
        char ip[INET_ADDRSTRLEN] = {};
        inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
        target = std::string(ip) + ":" + std::to_string(ntohs(sa.sin_port));
      }
      std::string req = "GET /probe?module=" + module + "&target=" + target +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench_client\r\n\r\n";
      if (send(c.fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        drop(c);
        ++errors;
        return;
      }
      c.busy = true;
      c.sent_at = bench::now_ns();
      ++sent;
      return;
    }
    ++skipped;
  };

  epoll_event events[256];
  char buf[16384];
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
        for (std::uint64_t k = 0; k < expirations; ++k) request();
      } else {
        Conn& c = conns[tag];
        if (c.fd < 0) continue;
        auto got = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (got <= 0) {
          if (got < 0 && errno == EAGAIN) continue;
          if (c.busy) ++errors;
          drop(c);
          continue;
        }
        c.in.append(buf, static_cast<std::size_t>(got));
        if (auto len = complete_response(c.in); len != 0) {
          const std::string response = c.in.substr(0, len);
          c.in.erase(0, len);
          c.busy = false;
          const bool ok_status = response.compare(0, 12, "HTTP/1.1 200") == 0;
          (ok_status && response.find("\nprobe_success 1") != std::string::npos) ? ++success
                                                                                 : ++failure;
        }
      }
    }
    const auto now = bench::now_ns();
    for (auto& c : conns) {
      if (c.busy && now - c.sent_at > 5'000'000'000LL) {
        ++errors;
        drop(c);
      }
    }
  }
  for (auto& c : conns) drop(c);
  std::fprintf(stderr,
               "client %s: sent %llu probe_success=1 %llu failed %llu errors %llu skipped %llu\n",
               module.c_str(), static_cast<unsigned long long>(sent),
               static_cast<unsigned long long>(success), static_cast<unsigned long long>(failure),
               static_cast<unsigned long long>(errors), static_cast<unsigned long long>(skipped));
  close(tfd);
  close(sfd);
  close(ep);
  return 0;
}
