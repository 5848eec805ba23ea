#include "tests/support/fake_imds.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace reachprobe::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct FakeImds::Server {
  explicit Server(FakeImdsOptions o) : options(std::move(o)) {}

  FakeImdsOptions options;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  mutable std::mutex mutex;
  std::map<std::string, Clock::time_point> tokens;  // token -> expiry
  std::size_t puts = 0, gets = 0, unauthorized = 0, issued = 0;

  std::map<std::string, std::string> documents() const {
    const std::string interface = "/latest/meta-data/network/interfaces/macs/" + options.mac;
    std::string ids, names, cidrs;
    for (const auto& [id, name] : options.security_groups) {
      ids += (ids.empty() ? "" : "\n") + id;
      names += (names.empty() ? "" : "\n") + name;
    }
    for (const auto& c : options.vpc_cidrs) cidrs += (cidrs.empty() ? "" : "\n") + c;
    return {{"/latest/meta-data/placement/region", options.region},
            {"/latest/meta-data/placement/availability-zone", options.availability_zone},
            {"/latest/meta-data/instance-id", options.instance_id},
            {"/latest/meta-data/mac", options.mac},
            {interface + "/security-group-ids", ids},
            {interface + "/security-groups", names},
            {interface + "/subnet-id", options.subnet_id},
            {interface + "/vpc-id", options.vpc_id},
            {interface + "/vpc-ipv4-cidr-blocks", cidrs},
            {interface + "/subnet-ipv4-cidr-block", options.subnet_cidr},
            {"/latest/dynamic/instance-identity/document",
             "{\n  \"accountId\" : \"" + options.account_id +
                 "\",\n  \"architecture\" : \"x86_64\",\n  \"region\" : \"" + options.region +
                 "\"\n}"}};
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) continue;
      asio::co_spawn(io, serve(std::move(socket)), asio::detached);
    }
  }

  // Status and body for one request, and how long to wait before answering.
  std::tuple<int, std::string, std::chrono::milliseconds> answer(
      const http::request<http::string_body>& request) {
    std::lock_guard lock(mutex);
    const std::string target(request.target());
    const std::string junk("\x00\xff\x1b[31mnot-a-value\x7f\x01", 20);
    if (request.method() == http::verb::put && target == "/latest/api/token") {
      ++puts;
      if (options.put_status != 200) return {options.put_status, "", options.put_delay};
      const std::string ttl_text(request["X-aws-ec2-metadata-token-ttl-seconds"]);
      int ttl = 0;
      try {
        ttl = std::stoi(ttl_text);
      } catch (const std::exception&) {
        ttl = 0;
      }
      if (ttl < 1 || ttl > 21600) return {400, "", options.put_delay};
      const std::string token = "AQAEAFakeImdsToken" + std::to_string(++issued) + "==";
      tokens[token] = Clock::now() + std::chrono::seconds(ttl);
      return {200, options.garbage_token ? junk : token, options.put_delay};
    }
    if (request.method() != http::verb::get) return {405, "", std::chrono::milliseconds(0)};
    ++gets;
    const auto found = tokens.find(std::string(request["X-aws-ec2-metadata-token"]));
    if (found == tokens.end() || found->second <= Clock::now()) {
      ++unauthorized;
      return {401, "", options.get_delay};
    }
    const auto docs = documents();
    const auto doc = docs.find(target);
    if (doc == docs.end()) return {404, "Not Found", options.get_delay};
    return {200, options.garbage_documents ? junk : doc->second, options.get_delay};
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    stream.expires_after(std::chrono::seconds(10));
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    boost::system::error_code ec;
    co_await http::async_read(stream, buffer, request,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    auto [status, body, delay] = answer(request);
    if (request.method() == http::verb::put && options.put_answer_ttl > 0) {
      // The hop limit: the token's answer leaves with this IP TTL, and a router (the node
      // in front of a pod) that would have to decrement it to 0 drops it.
      const int ttl = options.put_answer_ttl;
      setsockopt(stream.socket().native_handle(), IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
    }
    if (delay.count() > 0) {
      asio::steady_timer timer(io, delay);
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    http::response<http::string_body> response{static_cast<http::status>(status), 11};
    response.set(http::field::server, "EC2ws");
    response.set(http::field::content_type, "text/plain");
    response.body() = body;
    response.keep_alive(false);
    response.prepare_payload();
    co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  }
};

namespace {

// A socket of the network namespace `netns` (the namespace is fixed when a socket is made,
// so only its creation needs a thread that entered it).
int socket_in(const std::string& netns) {
  int fd = -1;
  std::string error;
  std::thread([&] {
    const int ns = open(("/var/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
      error = "setns " + netns + ": " + strerror(errno);
    } else {
      fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) error = std::string("socket: ") + strerror(errno);
    }
    if (ns >= 0) close(ns);
  }).join();
  if (fd < 0) throw std::runtime_error("FakeImds: " + error);
  return fd;
}

}  // namespace

FakeImds::FakeImds(FakeImdsOptions options)
    : server_(std::make_shared<Server>(std::move(options))) {
  const auto& o = server_->options;
  tcp::endpoint where(asio::ip::make_address(o.listen_address), 0);
  if (o.netns.empty()) {
    server_->acceptor.open(where.protocol());
  } else {
    server_->acceptor.assign(where.protocol(), socket_in(o.netns));
  }
  server_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  server_->acceptor.bind(where);
  server_->acceptor.listen();
  port_ = server_->acceptor.local_endpoint().port();
  asio::co_spawn(server_->io, server_->accept_loop(), asio::detached);
  thread_ = std::thread([server = server_] { server->io.run(); });
}

FakeImds::~FakeImds() {
  server_->io.stop();
  thread_.join();
}

std::string FakeImds::url() const {
  return "http://" + server_->options.listen_address + ":" + std::to_string(port_);
}

std::string FakeImds::environment() const { return "AWS_EC2_METADATA_SERVICE_ENDPOINT=" + url(); }

std::size_t FakeImds::token_requests() const {
  std::lock_guard lock(server_->mutex);
  return server_->puts;
}

std::size_t FakeImds::get_requests() const {
  std::lock_guard lock(server_->mutex);
  return server_->gets;
}

std::size_t FakeImds::unauthorized_gets() const {
  std::lock_guard lock(server_->mutex);
  return server_->unauthorized;
}

bool FakeImds::tokens_expired() const {
  std::lock_guard lock(server_->mutex);
  const auto now = Clock::now();
  for (const auto& [token, expiry] : server_->tokens) {
    if (expiry > now) return false;
  }
  return true;
}

void FakeImds::revoke_tokens() {
  std::lock_guard lock(server_->mutex);
  server_->tokens.clear();
}

}  // namespace reachprobe::test
