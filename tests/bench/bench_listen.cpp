// The benchmark's far side, on loopback only: a TCP listener on every endpoint of the grid
// (accepts and closes at once), a UDP DNS responder answering every A query with
// 127.0.0.1, and a control port that reports how many connections and queries it served,
// so every prober (floor, reachprobe, blackbox_exporter) is counted the same way, from
// outside. Stops on SIGTERM/SIGINT or after --max-seconds.
// With --tls-cert and --tls-key every listener serves TLS instead: it completes the server's
// handshake (non-blocking, OpenSSL) and closes; ACCEPTS then counts completed handshakes.
//
//   bench_listen --base-addr 127.77.0.1 --addrs 10 --base-port 21000 --ports 1000
//                --dns 127.77.0.1:21999 --control 127.0.0.1:PORT [--max-seconds 3600]
// prints "ready" on stdout once everything is bound. The control port answers a line
// "stats" with "ACCEPTS QUERIES FIRST_ACCEPT_REALTIME_NS FIRST_QUERY_REALTIME_NS" and
// "reset" by forgetting the first-accept/first-query times.

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <unordered_map>

#include "tests/bench/bench_common.hpp"

namespace {

constexpr std::uint64_t kDnsTag = 1ULL << 62;
constexpr std::uint64_t kControlTag = 1ULL << 61;
constexpr std::uint64_t kSignalTag = 1ULL << 60;
constexpr std::uint64_t kTlsTag = 1ULL << 59;  // | the connection's fd

int bound_socket(int type, const sockaddr_in& sa) {
  int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) bench::die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &sa.sin_addr, text, sizeof text);
    std::fprintf(stderr, "bind %s:%d: %s\n", text, ntohs(sa.sin_port), std::strerror(errno));
    std::exit(3);  // the harness tries other ports on 3
  }
  if (type == SOCK_STREAM && listen(fd, 4096) != 0) bench::die("listen");
  return fd;
}

// Turns the query in buf[0..n) into its answer in place; returns the answer's length or 0
// for something that is not a one-question query.
std::size_t answer(std::uint8_t* buf, std::size_t n, std::size_t cap) {
  if (n < 17 || (buf[2] & 0x80) != 0 || buf[4] != 0 || buf[5] != 1) return 0;
  std::size_t p = 12;
  while (p < n && buf[p] != 0) p += 1 + buf[p];
  p += 5;  // root label, type, class
  if (p > n || p + 16 > cap) return 0;
  const bool type_a = buf[p - 4] == 0 && buf[p - 3] == 1;
  buf[2] = static_cast<std::uint8_t>(0x80 | (buf[2] & 0x01) | 0x04);  // QR, RD as asked, AA
  buf[3] = 0x80;                                                      // RA, NOERROR
  buf[6] = 0;
  buf[7] = type_a ? 1 : 0;
  buf[8] = buf[9] = buf[10] = buf[11] = 0;  // no authority, no additional (drops EDNS)
  if (!type_a) return p;
  const std::uint8_t rr[16] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 127, 0, 0, 1};
  std::memcpy(buf + p, rr, sizeof rr);
  return p + sizeof rr;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv);
  const auto grid = bench::Grid::from(args);
  const auto limit = bench::raise_nofile();
  if (static_cast<rlim_t>(grid.size()) + 64 > limit) {
    std::fprintf(stderr, "%d listeners need more than the open-file limit %lu\n", grid.size(),
                 static_cast<unsigned long>(limit));
    return 2;
  }
  const std::int64_t deadline =
      bench::now_ns() + args.number("--max-seconds", 3600) * 1'000'000'000LL;

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) bench::die("epoll_create1");
  auto add = [ep](int fd, std::uint64_t data) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = data;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) bench::die("epoll_ctl");
  };

  const int sfd = bench::stop_signal_fd();
  add(sfd, kSignalTag);

  SSL_CTX* tls = nullptr;
  if (auto cert = args.text("--tls-cert", ""); !cert.empty()) {
    // The session tickets written after the client's Finished may meet a client that has
    // closed already: EPIPE, not a signal.
    signal(SIGPIPE, SIG_IGN);
    tls = SSL_CTX_new(TLS_server_method());
    if (!tls || SSL_CTX_use_certificate_chain_file(tls, cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls, args.text("--tls-key", "").c_str(), SSL_FILETYPE_PEM) !=
            1) {
      ERR_print_errors_fp(stderr);
      return 2;
    }
  }
  std::unordered_map<int, SSL*> handshakes;

  std::vector<int> listeners;
  listeners.reserve(static_cast<std::size_t>(grid.size()));
  for (int i = 0; i < grid.size(); ++i) {
    listeners.push_back(bound_socket(SOCK_STREAM, grid.at(i)));
    add(listeners.back(), static_cast<std::uint64_t>(listeners.back()));
  }
  int dns = -1;
  if (auto where = args.text("--dns", ""); !where.empty()) {
    dns = bound_socket(SOCK_DGRAM, bench::parse_ip_port(where));
    int size = 4 << 20;
    setsockopt(dns, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    add(dns, kDnsTag);
  }
  int control = bound_socket(SOCK_STREAM, bench::parse_ip_port(args.text("--control", "")));
  add(control, kControlTag);

  std::printf("ready\n");
  std::fflush(stdout);

  std::uint64_t accepts = 0, queries = 0;
  std::int64_t first_accept = 0, first_query = 0;
  // One step of a server handshake; done (either way), the connection is closed.
  auto tls_step = [&](std::unordered_map<int, SSL*>::iterator it) {
    SSL* ssl = it->second;
    const int rc = SSL_accept(ssl);
    if (rc != 1) {
      const int error = SSL_get_error(ssl, rc);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return;
      ERR_clear_error();
    } else {
      if (first_accept == 0) first_accept = bench::now_ns(CLOCK_REALTIME);
      ++accepts;
    }
    SSL_free(ssl);
    close(it->first);
    handshakes.erase(it);
  };
  epoll_event events[256];
  std::uint8_t buf[1500];
  bool running = true;
  while (running && bench::now_ns() < deadline) {
    int n = epoll_wait(ep, events, 256, 200);
    if (n < 0 && errno != EINTR) bench::die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      const auto tag = events[i].data.u64;
      if (tag == kSignalTag) {
        running = false;
      } else if (tag == kDnsTag) {
        for (int k = 0; k < 64; ++k) {
          sockaddr_in from{};
          socklen_t len = sizeof from;
          auto got = recvfrom(dns, buf, 512, 0, reinterpret_cast<sockaddr*>(&from), &len);
          if (got <= 0) break;
          auto size = answer(buf, static_cast<std::size_t>(got), sizeof buf);
          if (size == 0) continue;
          if (first_query == 0) first_query = bench::now_ns(CLOCK_REALTIME);
          ++queries;
          sendto(dns, buf, size, 0, reinterpret_cast<sockaddr*>(&from), len);
        }
      } else if (tag == kControlTag) {
        int c = accept4(control, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        timeval tv{0, 200'000};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char line[64] = {};
        auto got = read(c, line, sizeof line - 1);
        if (got > 0 && std::strncmp(line, "reset", 5) == 0) first_accept = first_query = 0;
        char out[128];
        int len = std::snprintf(
            out, sizeof out, "%llu %llu %lld %lld\n", static_cast<unsigned long long>(accepts),
            static_cast<unsigned long long>(queries), static_cast<long long>(first_accept),
            static_cast<long long>(first_query));
        if (write(c, out, static_cast<std::size_t>(len)) < 0) {
          // the harness gave up on this answer; nothing to do
        }
        close(c);
      } else if (tag & kTlsTag) {
        const int c = static_cast<int>(tag & ~kTlsTag);
        if (auto found = handshakes.find(c); found != handshakes.end()) tls_step(found);
      } else {
        const int fd = static_cast<int>(tag);
        for (int k = 0; k < 64; ++k) {
          int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC | (tls ? SOCK_NONBLOCK : 0));
          if (c < 0) break;
          if (tls) {
            SSL* ssl = SSL_new(tls);
            SSL_set_fd(ssl, c);
            auto [it, _] = handshakes.emplace(c, ssl);
            add(c, kTlsTag | static_cast<std::uint64_t>(c));
            tls_step(it);
            continue;
          }
          if (first_accept == 0) first_accept = bench::now_ns(CLOCK_REALTIME);
          ++accepts;
          close(c);
        }
      }
    }
  }
  for (auto& [c, ssl] : handshakes) {
    SSL_free(ssl);
    close(c);
  }
  if (tls) SSL_CTX_free(tls);
  for (int fd : listeners) close(fd);
  if (dns >= 0) close(dns);
  close(control);
  close(sfd);
  close(ep);
  return 0;
}
