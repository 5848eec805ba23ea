#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace reachprobe::test {

// A loopback TCP port that nothing holds, below the kernel's ephemeral range (so no bind(0)
// and no outgoing connection takes it before the daemon under test listens there). Never the
// same port twice in one process: a test that takes several (a listen port and the ports it
// probes) must get distinct ones, and the sanitizer runs keep a whole test binary in one
// process.
std::uint16_t free_tcp_port();

// A loopback TCP port where nothing listens, for as long as this object lives: a socket is
// bound to it but never listens, so a connection is refused (RST) and the kernel hands the
// port to no one else. A port merely released could be taken by the next listener a test
// starts on port 0, and the "closed" endpoint would come out `ok`.
class ClosedTcpPort {
 public:
  explicit ClosedTcpPort(const std::string& address = "127.0.0.1");
  std::uint16_t port() const { return port_; }

 private:
  boost::asio::ip::tcp::socket socket_;
  std::uint16_t port_;
};

// The value of the sample whose name and labels are exactly `series` in a Prometheus text
// exposition, e.g. `reachprobe_probe_success{dst="a:1",target="t",type="tcp"}`.
// Every series carries `vantage`; one named without it is the node's (the default), so
// `vantage="node"` is not part of the comparison then.
std::optional<double> sample(const std::string& exposition, const std::string& series);

// Every sample of an exposition: "name{labels}" -> value, with `le`/`quantile` values
// normalised to the double they denote, so that "0.0001" and "1e-04" compare equal, and NaN
// as -1234.5 so that it compares equal to itself.
std::map<std::string, double> samples(const std::string& exposition);

}  // namespace reachprobe::test
