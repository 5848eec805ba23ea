#include "tests/support/dnsmasq.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/wait.hpp"

extern char** environ;

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

// Whether something answers DNS over UDP on the port. Not a TCP connect: dnsmasq forks a
// child for every TCP connection.
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

// Reaps `pid` if it has exited; true if it is gone.
bool reaped(pid_t pid) {
  int status = 0;
  return waitpid(pid, &status, WNOHANG) == pid;
}

}  // namespace

std::string Dnsmasq::binary() {
  for (const char* path : {"/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return {};
}

Dnsmasq::Dnsmasq(const std::vector<std::string>& options) {
  char name[] = "/tmp/reachprobe-dnsmasq-log-XXXXXX";
  const int fd = mkstemp(name);
  if (fd < 0) throw std::runtime_error("Dnsmasq: cannot create a log file");
  close(fd);
  log_path_ = name;
  // The port is free when chosen but may be taken before dnsmasq binds it: try again.
  std::string why;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (start(options, why)) return;
  }
  unlink(log_path_.c_str());
  throw std::runtime_error("dnsmasq did not start: " + why);
}

Dnsmasq::~Dnsmasq() {
  stop();
  unlink(log_path_.c_str());
}

bool Dnsmasq::start(const std::vector<std::string>& options, std::string& why) {
  port_ = free_port();
  if (port_ == 0) {
    why = "no free port";
    return false;
  }
  std::vector<std::string> args = {binary(),
                                   "--keep-in-foreground",
                                   "--no-resolv",
                                   "--no-hosts",
                                   "--conf-file=/dev/null",
                                   "--pid-file",
                                   "--port=" + std::to_string(port_),
                                   "--listen-address=127.0.0.1",
                                   "--bind-interfaces",
                                   "--log-facility=-",
                                   "--log-queries"};
  args.insert(args.end(), options.begin(), options.end());
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  // stdout and stderr into the log file, opened here: dnsmasq drops root, and could not
  // open a file of ours itself.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path_.c_str(),
                                   O_WRONLY | O_TRUNC | O_CREAT, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  // A process group of its own, so that stop() also ends the children dnsmasq forks for
  // TCP connections.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  const int spawned = posix_spawn(&pid_, argv[0], &actions, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    pid_ = -1;
    why = "cannot run " + args[0] + ": " + std::strerror(spawned);
    return false;
  }

  asio::io_context io;
  asio::ip::udp::socket probe(io, asio::ip::udp::v4());
  probe.connect(asio::ip::udp::endpoint(asio::ip::address_v4::loopback(), port_));
  probe.non_blocking(true);
  bool exited = false;
  const bool up = wait_until(
      [&] {
        if (reaped(pid_)) exited = true;
        return exited || answers_dns(probe);
      },
      5s);
  if (up && !exited) return true;
  why = log();
  if (!exited) stop();
  pid_ = -1;
  return false;
}

void Dnsmasq::stop() {
  if (pid_ <= 0) return;
  // The group is dnsmasq's own (see start()); a paused dnsmasq would not act on SIGTERM.
  kill(-pid_, SIGCONT);
  kill(-pid_, SIGTERM);
  if (!wait_until([&] { return reaped(pid_); }, 3s)) {
    kill(-pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
}

void Dnsmasq::pause() {
  if (pid_ > 0) kill(pid_, SIGSTOP);
}

void Dnsmasq::resume() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

std::string Dnsmasq::log() const {
  std::ifstream in(log_path_);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

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
