#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/child_process.hpp"

namespace reachprobe::test {

// A real DNS server for tests: dnsmasq (Debian's dnsmasq-base) on 127.0.0.1 and a free port,
// with --no-resolv --no-hosts, no config file, no pid file, answering only from the records
// given as options ("--host-record=a.test,127.0.0.2", "--srv-host=...", "--local=/test/").
// The constructor starts it and waits until it answers; it runs as a ChildProcess, so it is
// killed by PID and reaped when the Dnsmasq is destroyed (also when a test fails) or when
// the test process dies.
class Dnsmasq {
 public:
  // The binary, or empty if dnsmasq is not installed (tests then skip).
  static std::string binary();

  // Throws std::runtime_error with dnsmasq's own output if it does not come up.
  explicit Dnsmasq(const std::vector<std::string>& options);
  // The DNS server of a test host: dnsmasq inside `netns` (`ip netns exec`), on
  // address:53 of that namespace.
  Dnsmasq(const std::string& netns, const std::string& address,
          const std::vector<std::string>& options);
  ~Dnsmasq();
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  std::uint16_t port() const { return port_; }
  std::string server() const { return address_ + ":" + std::to_string(port_); }
  pid_t pid() const { return process_->pid(); }

  // SIGSTOP / SIGCONT: a stopped dnsmasq keeps its sockets but answers nothing, as a server
  // behind a firewall that drops packets.
  void pause();
  void resume();

  // What it logged so far (every query, with --log-queries, which is always on).
  std::string log() const;
  // How many queries for `name` of `type` ("A", "AAAA", ...) it logged.
  int query_count(const std::string& name, const std::string& type) const;

 private:
  bool start(const std::vector<std::string>& options, std::string& why);

  std::unique_ptr<ChildProcess> process_;
  std::string netns_;
  std::string address_ = "127.0.0.1";
  std::uint16_t port_ = 0;
};

}  // namespace reachprobe::test
