#include "tests/support/exposition.hpp"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>

#include "tests/support/port_free.hpp"

namespace reachprobe::test {

namespace {

// The first port of the kernel's ephemeral range: the ports it hands to bind(0) and to the
// source side of connect().
unsigned ephemeral_range_start() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned first = 0;
  if (range >> first && first > 0) return first;
  return 32768;
}

}  // namespace

std::uint16_t free_tcp_port() {
  static std::mutex mutex;
  static std::set<std::uint16_t> handed_out;
  std::lock_guard lock(mutex);
  // Below the ephemeral range: a port from inside it, released and later listened on, could
  // meanwhile become the source port of any connection on the machine, or the port of the
  // next listener a test opens on port 0 (the daemon then failed to start, "bind: Address
  // already in use"). Ports below it are handed out by nobody; the start depends on the PID
  // so that two test processes rarely walk the same ports.
  constexpr unsigned first = 20000;
  const unsigned end = ephemeral_range_start();
  if (end > first + 1000) {
    const unsigned span = end - first;
    const unsigned start = static_cast<unsigned>(getpid()) * 7919u % span;
    for (unsigned i = 0; i < span; ++i) {
      const auto port = static_cast<std::uint16_t>(first + (start + i) % span);
      if (handed_out.count(port) == 0 && port_free(port)) {
        handed_out.insert(port);
        return port;
      }
    }
  }
  // An ephemeral range that starts low leaves no such ports: take one the kernel picks.
  boost::asio::io_context io;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    boost::asio::ip::tcp::acceptor a(
        io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    const auto port = a.local_endpoint().port();
    if (handed_out.insert(port).second) return port;
  }
  throw std::runtime_error("free_tcp_port: no loopback port left that was not handed out");
}

namespace {
// The socket of a ClosedTcpPort never does asynchronous work; it needs an executor only
// because Asio sockets have one.
boost::asio::io_context& idle_io_context() {
  static boost::asio::io_context io;
  return io;
}
}  // namespace

ClosedTcpPort::ClosedTcpPort(const std::string& address) : socket_(idle_io_context()) {
  const boost::asio::ip::tcp::endpoint any_port(boost::asio::ip::make_address(address), 0);
  socket_.open(any_port.protocol());
  socket_.bind(any_port);
  port_ = socket_.local_endpoint().port();
}

namespace {

// The line without its `vantage="node"` label.
std::string without_node_vantage(std::string line) {
  static const std::string label = "vantage=\"node\"";
  const auto at = line.find(label);
  if (at == std::string::npos) return line;
  std::size_t from = at;
  std::size_t to = at + label.size();
  if (line[to] == ',') {
    ++to;
  } else if (line[from - 1] == ',') {
    --from;
  } else {  // the only label: `name{vantage="node"}` is `name`
    --from;
    ++to;
  }
  return line.erase(from, to - from);
}

}  // namespace

std::optional<double> sample(const std::string& exposition, const std::string& series) {
  const bool any_vantage = series.find("vantage=") == std::string::npos;
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (any_vantage && !line.starts_with('#')) line = without_node_vantage(std::move(line));
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      try {
        return std::stod(line.substr(series.size() + 1));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

std::map<std::string, double> samples(const std::string& exposition) {
  std::map<std::string, double> out;
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto space = line.rfind(' ');
    std::string series = line.substr(0, space);
    for (const char* key : {"le=\"", "quantile=\""}) {
      auto at = series.find(key);
      if (at == std::string::npos) continue;
      at += std::char_traits<char>::length(key);
      auto end = series.find('"', at);
      auto bound = series.substr(at, end - at);
      if (bound != "+Inf") bound = std::to_string(std::stod(bound));
      series = series.substr(0, at) + bound + series.substr(end);
    }
    const auto value = line.substr(space + 1);
    out[series] = value == "NaN" || value == "Nan" ? -1234.5 : std::stod(value);
  }
  return out;
}

}  // namespace reachprobe::test
