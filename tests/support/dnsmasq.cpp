#include "tests/support/dnsmasq.hpp"

#include <signal.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "tests/support/wait.hpp"

namespace reachprobe::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// A port free for UDP and TCP on 127.0.0.1 right now (dnsmasq binds both); 0 if none found.
std::uint16_t free_port() {
  asio::io_context io;
  const auto loopback = asio::ip::address_v4::loopback();
  for (int attempt = 0; attempt < 50; ++attempt) {
    asio::ip::udp::socket udp(io, asio::ip::udp::endpoint(loopback, 0));
    const auto port = udp.local_endpoint().port();
    asio::ip::tcp::acceptor tcp(io);
    boost::system::error_code ec;
    tcp.open(asio::ip::tcp::v4(), ec);
    if (!ec) tcp.bind(asio::ip::tcp::endpoint(loopback, port), ec);
    if (!ec) return port;
  }
  return 0;
}

// Whether something answers DNS over UDP on the port the socket is connected to. Not a TCP
// connect: dnsmasq forks a child for every TCP connection.
bool answers_dns(asio::ip::udp::socket& socket) {
  // A query for "ready.invalid." A; any reply, even REFUSED, means dnsmasq is up.
  static const std::uint8_t kQuery[] = {0x52, 0x45, 0x01, 0x00, 0,   1,   0,   0, 0,   0,   0,
                                        0,    5,    'r',  'e',  'a', 'd', 'y', 7, 'i', 'n', 'v',
                                        'a',  'l',  'i',  'd',  0,   0,   1,   0, 1};
  boost::system::error_code ec;
  socket.send(asio::buffer(kQuery), 0, ec);
  std::array<std::uint8_t, 512> reply{};
  for (int waits = 0; waits < 5; ++waits) {
    if (socket.receive(asio::buffer(reply), 0, ec) >= 2 && !ec) return true;
    if (ec != asio::error::would_block && ec != asio::error::try_again) return false;
    std::this_thread::sleep_for(2ms);
  }
  return false;
}

}  // namespace

std::string Dnsmasq::binary() {
  for (const char* path : {"/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return {};
}

Dnsmasq::Dnsmasq(const std::vector<std::string>& options) {
  // The port is free when chosen but may be taken before dnsmasq binds it: try again.
  std::string why;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (start(options, why)) return;
  }
  throw std::runtime_error("dnsmasq did not start: " + why);
}

Dnsmasq::Dnsmasq(const std::string& netns, const std::string& address,
                 const std::vector<std::string>& options)
    : netns_(netns), address_(address) {
  std::string why;
  if (!start(options, why))
    throw std::runtime_error("dnsmasq in " + netns + " did not start: " + why);
}

Dnsmasq::~Dnsmasq() = default;

bool Dnsmasq::start(const std::vector<std::string>& options, std::string& why) {
  // In a namespace of its own, port 53 is free.
  port_ = netns_.empty() ? free_port() : 53;
  if (port_ == 0) {
    why = "no free port";
    return false;
  }
  std::vector<std::string> argv;
  if (!netns_.empty()) argv = {"ip", "netns", "exec", netns_};
  argv.insert(argv.end(), {binary(), "--keep-in-foreground", "--no-resolv", "--no-hosts",
                           "--conf-file=/dev/null", "--pid-file", "--port=" + std::to_string(port_),
                           "--listen-address=" + address_, "--bind-interfaces", "--log-facility=-",
                           "--log-queries"});
  argv.insert(argv.end(), options.begin(), options.end());
  process_ = std::make_unique<ChildProcess>(argv);

  asio::io_context io;
  asio::ip::udp::socket probe(io, asio::ip::udp::v4());
  probe.connect(asio::ip::udp::endpoint(asio::ip::make_address(address_), port_));
  probe.non_blocking(true);
  const bool up = wait_until([&] { return !process_->running() || answers_dns(probe); }, 5s) &&
                  process_->running();
  if (up) return true;
  why = process_->stderr_text();
  process_.reset();  // killed by PID and reaped
  return false;
}

void Dnsmasq::pause() { process_->send_signal(SIGSTOP); }

void Dnsmasq::resume() { process_->send_signal(SIGCONT); }

std::string Dnsmasq::log() const { return process_->stderr_text(); }

int Dnsmasq::query_count(const std::string& name, const std::string& type) const {
  const std::string needle = "query[" + type + "] " + name + " from ";
  const std::string text = log();
  int count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

}  // namespace reachprobe::test
