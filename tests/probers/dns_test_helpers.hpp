#pragma once

// Helpers shared by the dns prober tests (DnsResponder and dnsmasq).

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "probe/core/endpoint.hpp"
#include "probe/dns/resolver.hpp"
#include "probe/probers/prober.hpp"
#include "tests/support/netns.hpp"

namespace reachprobe::dns_test {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

// A file that exists for the test's life, e.g. a resolv.conf with its own search list.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/reachprobe-dns-test-XXXXXX";
    const int fd = mkstemp(name);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    close(fd);
    path_ = name;
    std::ofstream(path_) << content;
  }
  ~TempFile() { unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::shared_ptr<Target> dns_target(std::string query, std::string record = "A",
                                          Duration timeout = 1s) {
  auto t = std::make_shared<Target>();
  t->name = "dns";
  t->type = ProbeType::Dns;
  t->query = std::move(query);
  t->record = std::move(record);
  t->interval = 10s;
  t->timeout = timeout;
  return t;
}

inline Endpoint endpoint_of(std::shared_ptr<Target> target) {
  return expand_endpoints({std::move(target)}).front();
}

// Runs one probe to completion on `io`, bounded: a probe that never finishes fails the test.
inline ProbeResult probe_once(asio::io_context& io, Prober& prober, const Endpoint& endpoint) {
  std::optional<ProbeResult> result;
  asio::co_spawn(io, prober.probe(endpoint, Deadline::after(endpoint.target->timeout)),
                 [&](std::exception_ptr e, ProbeResult r) {
                   if (e) std::rethrow_exception(e);
                   result = std::move(r);
                 });
  const auto limit = Clock::now() + endpoint.target->timeout + 2s;
  while (!result && Clock::now() < limit) {
    if (io.stopped()) io.restart();
    io.run_one_for(50ms);
  }
  EXPECT_TRUE(result.has_value()) << "probe did not finish";
  return result.value_or(ProbeResult{});
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

inline dns::ResolverOptions settings(std::vector<std::string> servers,
                                     const std::string& resolv_conf) {
  dns::ResolverOptions o;
  o.servers = std::move(servers);
  o.resolv_conf_path = resolv_conf;
  o.attempt_timeout = 500ms;
  o.attempts = 2;
  return o;
}

inline bool run_until(asio::io_context& io, const std::function<bool()>& condition,
                      std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  for (int rounds = 0; rounds < 1000000 && !condition() && Clock::now() < end; ++rounds) {
    if (io.stopped()) io.restart();
    io.run_one_for(10ms);
  }
  return condition();
}

// One port number on three loopback addresses, for a dns probe that connects to each:
// 127.0.0.2 listens (ok), 127.0.0.3 has nothing (RST: refused), and 127.0.0.4 drops the
// SYN (timeout). The drop comes from a listener with backlog 0 whose accept queue is already
// full: Linux then drops SYNs silently, as a firewall would, without root or a namespace.
// The same three cases across network namespaces, the drop by nftables, are FirewalledPods.
class FanOutPorts {
 public:
  FanOutPorts() {
    for (int attempt = 0; attempt < 50 && port_ == 0; ++attempt) {
      boost::system::error_code ec;
      listening_ = tcp::acceptor(io_, tcp::endpoint(asio::ip::make_address("127.0.0.2"), 0));
      const auto candidate = listening_.local_endpoint().port();
      full_.open(tcp::v4());
      full_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.4"), candidate), ec);
      if (!ec) full_.listen(0, ec);
      tcp::acceptor closed(io_);  // only to see that the port is free on 127.0.0.3
      closed.open(tcp::v4());
      if (!ec) closed.bind(tcp::endpoint(asio::ip::make_address("127.0.0.3"), candidate), ec);
      if (ec) {
        full_.close();
        listening_.close();
        continue;
      }
      port_ = candidate;
    }
    if (port_ == 0) throw std::runtime_error("no port free on 127.0.0.2-4");
    filler_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.4"), port_));
  }

  std::uint16_t port() const { return port_; }

 private:
  asio::io_context io_;
  std::uint16_t port_ = 0;
  tcp::acceptor listening_{io_};
  tcp::acceptor full_{io_};
  tcp::socket filler_{io_};  // sits in the accept queue of full_, which is never accepted
};

// Three pods on three other hosts (network namespaces on 198.18.0.0/15), as a headless
// service returns them: one serves `port`, one has nothing there (refused), and one sits
// behind a firewall that drops the SYN (nftables in its namespace): the outage of a closed
// node-to-node path. Needs root; check test::netns_unavailable_reason() first.
class FirewalledPods {
 public:
  static constexpr std::uint16_t kPort = 9093;

  FirewalledPods() {
    dropping_.nft(
        "table inet sg { chain input { type filter hook input priority 0; policy accept; "
        "tcp dport 9093 drop; }\n}\n");
  }

  const std::string& serving() const { return serving_.address(); }
  const std::string& refusing() const { return refusing_.address(); }
  const std::string& dropping() const { return dropping_.address(); }

 private:
  test::TestHost serving_;
  test::TestHost refusing_;
  test::TestHost dropping_;
  test::ListenerInHost listener_{serving_, kPort};
  test::ListenerInHost behind_firewall_{dropping_, kPort};
};

inline const FanOutResult* find_fanout(const ProbeResult& r, const std::string& host) {
  for (const auto& f : r.fanout) {
    if (f.host == host) return &f;
  }
  return nullptr;
}

}  // namespace reachprobe::dns_test
