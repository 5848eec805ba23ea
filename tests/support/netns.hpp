#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace reachprobe::test {

// Why network-namespace tests cannot run here (not root, no `ip netns`, no `nft`), or empty.
// Tests GTEST_SKIP() with this message.
std::string netns_unavailable_reason();

// A test host: a network namespace joined to the root namespace by a veth pair on a /30 of
// 198.18.0.0/15 (root side .1, host side .2), lo up, no other route. The test process
// stays in the root namespace and reaches the host at address(). Destroying it deletes the
// namespace (and with it the veth pair) and every route it added, also when a test fails.
class TestHost {
 public:
  TestHost();
  ~TestHost();
  TestHost(const TestHost&) = delete;
  TestHost& operator=(const TestHost&) = delete;

  const std::string& name() const { return name_; }
  const std::string& address() const { return address_; }          // the host, in the ns
  const std::string& gateway_address() const { return gateway_; }  // the root side
  // The root side's interface, e.g. to let the root namespace forward between hosts.
  const std::string& root_interface() const { return veth_root_; }

  // Runs a command inside the namespace; throws std::runtime_error with its stderr on failure.
  void exec(const std::vector<std::string>& argv) const;
  // Loads an nftables ruleset (nft -f syntax) into the namespace, e.g.
  // "table inet t {\n chain input { type filter hook input priority 0; tcp dport 9443 drop; }\n}"
  void nft(const std::string& ruleset) const;
  // Drops every ruleset loaded so far.
  void flush_firewall() const;

 private:
  std::string name_;
  std::string veth_root_;
  std::string address_;
  std::string gateway_;
};

// The calling thread in the network namespace `name` (`ip netns` name) until destroyed;
// sockets made meanwhile stay in it for their whole life. Throws std::runtime_error if the
// namespace cannot be entered.
class InNetns {
 public:
  explicit InNetns(const std::string& name);
  ~InNetns();
  InNetns(const InNetns&) = delete;
  InNetns& operator=(const InNetns&) = delete;

 private:
  int original_ = -1;
};

// A test host one router away, for paths with more than one link (path MTU): the root
// namespace -- veth -- a router namespace -- veth -- the host's namespace, each link a /30
// of 198.18.0.0/15 of its own, the router forwarding, a route in the root namespace to the
// host through the router. veth offloads (TSO/GSO) stay on: the router checks the size of
// every segment of a GSO packet against the route MTU, so a path-MTU black hole shows with
// them (tests assert the stall itself, so one that did not would fail, never pass). All of
// it (and the route) is deleted on destruction.
class RoutedHost {
 public:
  RoutedHost();
  ~RoutedHost();
  RoutedHost(const RoutedHost&) = delete;
  RoutedHost& operator=(const RoutedHost&) = delete;

  const std::string& address() const { return host_address_; }  // the host, in its ns
  const std::string& netns() const { return host_ns_; }
  const std::string& client_address() const { return root_address_; }  // the root side

  // Packets the router forwards toward the root namespace may be at most `mtu` bytes (a
  // route MTU, as a link of that MTU on the way): a larger one with DF set is dropped and
  // answered with ICMP "fragmentation needed" (type 3 code 4), as routers do.
  void limit_mtu_toward_client(int mtu) const;
  // Loads an nftables ruleset into the router's namespace.
  void router_nft(const std::string& ruleset) const;
  // `nft list ruleset` of the router (its counters).
  std::string router_ruleset() const;

 private:
  void in(const std::string& ns, const std::vector<std::string>& argv) const;
  std::string router_ns_;
  std::string host_ns_;
  std::string veth_root_;
  std::string veth_router_;  // the router's end toward the root namespace
  std::string root_address_;
  std::string router_address_;  // on the root link
  std::string host_address_;
};

// An address in 198.19.0.0/16 with an `unreachable` route in the root namespace: connect()
// fails at once with EHOSTUNREACH, like an ICMP host-unreachable would. Removed on
// destruction.
class UnreachableRoute {
 public:
  UnreachableRoute();
  ~UnreachableRoute();
  UnreachableRoute(const UnreachableRoute&) = delete;
  UnreachableRoute& operator=(const UnreachableRoute&) = delete;
  const std::string& address() const { return address_; }

 private:
  std::string address_;
};

// A TCP listener inside a TestHost's namespace, on a thread of the test process that
// entered the namespace with setns(). Accepted connections are closed at once.
class ListenerInHost {
 public:
  ListenerInHost(const TestHost& host, std::uint16_t port);
  ~ListenerInHost();
  ListenerInHost(const ListenerInHost&) = delete;
  ListenerInHost& operator=(const ListenerInHost&) = delete;
  int accepted() const { return accepted_.load(); }
  // The port it listens on: the one given, or the one the kernel chose for port 0 (a new
  // namespace has all ports free, so tests reuse it in their other hosts).
  std::uint16_t port() const { return port_.load(); }

 private:
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<std::uint16_t> port_{0};
  int ready_fd_[2] = {-1, -1};
};

}  // namespace reachprobe::test
