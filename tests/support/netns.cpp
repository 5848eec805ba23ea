#include "tests/support/netns.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "tests/support/child_process.hpp"

namespace reachprobe::test {

namespace {

std::atomic<int> g_counter{0};

CommandResult run(const std::vector<std::string>& argv) {
  return run_command(argv, std::chrono::seconds(10));
}

void must(const std::vector<std::string>& argv) {
  auto r = run(argv);
  if (r.exit_code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    throw std::runtime_error("`" + cmd + "` failed (" + std::to_string(r.exit_code) +
                             "): " + r.err);
  }
}

// A /30 (or /32) of the test ranges unique to this process and call: parallel test
// processes (ctest -j) must not collide.
std::uint32_t next_slot() {
  const auto pid = static_cast<std::uint32_t>(getpid());
  return ((pid % 1024) * 32 + static_cast<std::uint32_t>(g_counter++ % 32)) % 32768;
}

std::string ipv4(std::uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

}  // namespace

std::string netns_unavailable_reason() {
  if (geteuid() != 0) return "network-namespace tests need root (CI runs them as root)";
  if (run({"ip", "netns", "list"}).exit_code != 0) return "`ip netns` does not work here";
  if (run({"nft", "--version"}).exit_code != 0) return "`nft` (nftables) is not installed";
  return {};
}

TestHost::TestHost() {
  const auto slot = next_slot();
  const int n = g_counter.load();
  name_ = "rp-" + std::to_string(getpid()) + "-" + std::to_string(n);
  veth_root_ = "rpv" + std::to_string(getpid() % 100000) + "x" + std::to_string(n);
  const std::string veth_host = "rph" + std::to_string(getpid() % 100000) + "x" + std::to_string(n);
  const std::uint32_t base = (198u << 24) | (18u << 16);  // 198.18.0.0/15, in /30 steps
  gateway_ = ipv4(base + slot * 4 + 1);
  address_ = ipv4(base + slot * 4 + 2);
  try {
    must({"ip", "netns", "add", name_});
    must({"ip", "link", "add", veth_root_, "type", "veth", "peer", "name", veth_host});
    must({"ip", "link", "set", veth_host, "netns", name_});
    must({"ip", "addr", "add", gateway_ + "/30", "dev", veth_root_});
    must({"ip", "link", "set", veth_root_, "up"});
    exec({"ip", "addr", "add", address_ + "/30", "dev", veth_host});
    exec({"ip", "link", "set", veth_host, "up"});
    exec({"ip", "link", "set", "lo", "up"});
  } catch (...) {
    run({"ip", "link", "del", veth_root_});
    run({"ip", "netns", "del", name_});
    throw;
  }
}

TestHost::~TestHost() {
  run({"ip", "link", "del", veth_root_});
  run({"ip", "netns", "del", name_});
}

void TestHost::exec(const std::vector<std::string>& argv) const {
  std::vector<std::string> full = {"ip", "netns", "exec", name_};
  full.insert(full.end(), argv.begin(), argv.end());
  must(full);
}

void TestHost::nft(const std::string& ruleset) const {
  // nft reads the ruleset from a file; a temp file keeps quoting out of the way.
  char path[] = "/tmp/reachprobe-nft-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  const auto written = write(fd, ruleset.data(), ruleset.size());
  close(fd);
  if (written != static_cast<ssize_t>(ruleset.size())) {
    unlink(path);
    throw std::runtime_error("cannot write the nft ruleset");
  }
  try {
    exec({"nft", "-f", path});
  } catch (...) {
    unlink(path);
    throw;
  }
  unlink(path);
}

void TestHost::flush_firewall() const { exec({"nft", "flush", "ruleset"}); }

UnreachableRoute::UnreachableRoute() {
  const std::uint32_t base = (198u << 24) | (19u << 16);
  address_ = ipv4(base + 1 + next_slot() % 65000);
  must({"ip", "route", "add", "unreachable", address_ + "/32"});
}

UnreachableRoute::~UnreachableRoute() {
  run({"ip", "route", "del", "unreachable", address_ + "/32"});
}

ListenerInHost::ListenerInHost(const TestHost& host, std::uint16_t port) {
  if (pipe(ready_fd_) != 0) throw std::runtime_error("pipe failed");
  const std::string ns_path = "/var/run/netns/" + host.name();
  const std::string address = host.address();
  thread_ = std::thread([this, ns_path, address, port] {
    std::string error;
    int listener = -1;
    const int ns = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
    // setns() changes only this thread's namespace; the rest of the test stays outside.
    if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
      error = "setns: " + std::string(strerror(errno));
    } else {
      listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int one = 1;
      setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(port);
      inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
      socklen_t length = sizeof sa;
      if (bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
          listen(listener, 64) != 0 ||
          getsockname(listener, reinterpret_cast<sockaddr*>(&sa), &length) != 0) {
        error = "bind/listen: " + std::string(strerror(errno));
      } else {
        port_ = ntohs(sa.sin_port);
      }
    }
    if (ns >= 0) close(ns);
    const char status = error.empty() ? 'y' : 'n';
    (void)!write(ready_fd_[1], &status, 1);
    while (error.empty() && !stop_) {
      pollfd p{listener, POLLIN, 0};
      if (poll(&p, 1, 20) > 0) {
        const int c = accept(listener, nullptr, nullptr);
        if (c >= 0) {
          ++accepted_;
          close(c);
        }
      }
    }
    if (listener >= 0) close(listener);
  });
  char status = 'n';
  pollfd p{ready_fd_[0], POLLIN, 0};
  if (poll(&p, 1, 5000) <= 0 || read(ready_fd_[0], &status, 1) != 1 || status != 'y') {
    stop_ = true;
    thread_.join();
    close(ready_fd_[0]);
    close(ready_fd_[1]);
    throw std::runtime_error("listener in " + host.name() + " did not start");
  }
}

ListenerInHost::~ListenerInHost() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  close(ready_fd_[0]);
  close(ready_fd_[1]);
}

}  // namespace reachprobe::test

namespace reachprobe::test {

InNetns::InNetns(const std::string& name) {
  original_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  const std::string path = "/var/run/netns/" + name;
  const int target = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const bool entered = original_ >= 0 && target >= 0 && ::setns(target, CLONE_NEWNET) == 0;
  const int error = errno;
  if (target >= 0) ::close(target);
  if (!entered) {
    if (original_ >= 0) ::close(original_);
    throw std::runtime_error("cannot enter network namespace " + name + ": " +
                             std::strerror(error));
  }
}

InNetns::~InNetns() {
  // Back where the thread was; failing that, the thread would keep making sockets in a test
  // namespace, which is no state to go on from.
  if (::setns(original_, CLONE_NEWNET) != 0) std::abort();
  ::close(original_);
}

RoutedHost::RoutedHost() {
  const std::uint32_t base = (198u << 24) | (18u << 16);
  const auto root_link = next_slot();
  const auto host_link = next_slot();
  const int n = g_counter.load();
  const std::string id = std::to_string(getpid() % 100000) + "x" + std::to_string(n);
  router_ns_ = "rp-" + std::to_string(getpid()) + "-" + std::to_string(n) + "-router";
  host_ns_ = "rp-" + std::to_string(getpid()) + "-" + std::to_string(n) + "-host";
  veth_root_ = "rqa" + id;
  veth_router_ = "rqb" + id;
  const std::string veth_router_host = "rqc" + id;
  const std::string veth_host = "rqd" + id;
  root_address_ = ipv4(base + root_link * 4 + 1);
  router_address_ = ipv4(base + root_link * 4 + 2);
  const std::string router_host_side = ipv4(base + host_link * 4 + 1);
  host_address_ = ipv4(base + host_link * 4 + 2);
  try {
    must({"ip", "netns", "add", router_ns_});
    must({"ip", "netns", "add", host_ns_});
    must({"ip", "link", "add", veth_root_, "type", "veth", "peer", "name", veth_router_});
    must({"ip", "link", "set", veth_router_, "netns", router_ns_});
    must({"ip", "link", "add", veth_router_host, "type", "veth", "peer", "name", veth_host});
    must({"ip", "link", "set", veth_router_host, "netns", router_ns_});
    must({"ip", "link", "set", veth_host, "netns", host_ns_});
    must({"ip", "addr", "add", root_address_ + "/30", "dev", veth_root_});
    must({"ip", "link", "set", veth_root_, "up"});
    in(router_ns_, {"ip", "addr", "add", router_address_ + "/30", "dev", veth_router_});
    in(router_ns_, {"ip", "addr", "add", router_host_side + "/30", "dev", veth_router_host});
    in(router_ns_, {"ip", "link", "set", veth_router_, "up"});
    in(router_ns_, {"ip", "link", "set", veth_router_host, "up"});
    in(router_ns_, {"sysctl", "-qw", "net.ipv4.ip_forward=1"});
    in(host_ns_, {"ip", "addr", "add", host_address_ + "/30", "dev", veth_host});
    in(host_ns_, {"ip", "link", "set", veth_host, "up"});
    in(host_ns_, {"ip", "link", "set", "lo", "up"});
    in(host_ns_, {"ip", "route", "add", "default", "via", router_host_side});
    // Goes with the veth when it is deleted.
    must({"ip", "route", "add", host_address_ + "/32", "via", router_address_, "dev", veth_root_});
  } catch (...) {
    run({"ip", "link", "del", veth_root_});
    run({"ip", "netns", "del", host_ns_});
    run({"ip", "netns", "del", router_ns_});
    throw;
  }
}

RoutedHost::~RoutedHost() {
  run({"ip", "link", "del", veth_root_});
  run({"ip", "netns", "del", host_ns_});
  run({"ip", "netns", "del", router_ns_});
}

void RoutedHost::in(const std::string& ns, const std::vector<std::string>& argv) const {
  std::vector<std::string> full = {"ip", "netns", "exec", ns};
  full.insert(full.end(), argv.begin(), argv.end());
  must(full);
}

void RoutedHost::limit_mtu_toward_client(int mtu) const {
  in(router_ns_, {"ip", "route", "add", root_address_ + "/32", "dev", veth_router_, "mtu",
                  std::to_string(mtu)});
}

void RoutedHost::router_nft(const std::string& ruleset) const {
  char path[] = "/tmp/reachprobe-nft-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  const auto written = write(fd, ruleset.data(), ruleset.size());
  close(fd);
  try {
    if (written != static_cast<ssize_t>(ruleset.size())) {
      throw std::runtime_error("cannot write the nft ruleset");
    }
    in(router_ns_, {"nft", "-f", path});
  } catch (...) {
    unlink(path);
    throw;
  }
  unlink(path);
}

std::string RoutedHost::router_ruleset() const {
  auto r = run({"ip", "netns", "exec", router_ns_, "nft", "list", "ruleset"});
  if (r.exit_code != 0) throw std::runtime_error("nft list ruleset failed: " + r.err);
  return r.out;
}

}  // namespace reachprobe::test
