#include "probe/probers/inbound.hpp"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "probe/core/endpoint.hpp"

namespace reachprobe {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr std::string_view kInboundPath = "/reachprobe/inbound/";
constexpr std::size_t kMaxConnections = 32;

Duration since(Clock::time_point start) {
  return std::chrono::duration_cast<Duration>(Clock::now() - start);
}

std::string new_nonce() {
  unsigned char bytes[12];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    // Uniqueness is what matters here, not secrecy.
    const auto now = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
    for (std::size_t i = 0; i < sizeof bytes; ++i)
      bytes[i] = static_cast<unsigned char>(now >> (i % 8 * 8));
  }
  std::string out;
  for (unsigned char b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

bool valid_nonce(std::string_view nonce) {
  return !nonce.empty() && nonce.size() <= 64 &&
         std::all_of(nonce.begin(), nonce.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
         });
}

std::string answer_for(std::string_view nonce) {
  return fmt::format("reachprobe inbound {}\n", nonce);
}

}  // namespace

struct InboundListeners::Listener {
  explicit Listener(asio::io_context& io) : acceptor(io) {}
  tcp::acceptor acceptor;
  std::size_t connections = 0;

  static asio::awaitable<void> accept_loop(std::shared_ptr<Listener> self) {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await self->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) co_return;
      if (ec) continue;
      // The API server opens one connection per probe: more is not the API server.
      if (self->connections >= kMaxConnections) continue;
      ++self->connections;
      asio::co_spawn(self->acceptor.get_executor(), answer(self, std::move(socket)),
                     asio::detached);
    }
  }

  static asio::awaitable<void> answer(std::shared_ptr<Listener> self, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    stream.expires_after(std::chrono::seconds(10));
    beast::flat_buffer buffer(4096);
    http::request_parser<http::empty_body> parser;
    parser.header_limit(2048);
    boost::system::error_code ec;
    co_await http::async_read(stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      const auto& request = parser.get();
      const std::string_view target(request.target().data(), request.target().size());
      http::response<http::string_body> response;
      response.version(request.version());
      response.set(http::field::server, "reachprobe");
      response.set(http::field::content_type, "text/plain");
      response.keep_alive(false);
      if (target.starts_with(kInboundPath) && valid_nonce(target.substr(kInboundPath.size())) &&
          request.method() == http::verb::get) {
        response.result(http::status::ok);
        response.body() = answer_for(target.substr(kInboundPath.size()));
      } else {
        response.result(http::status::not_found);
        response.body() = "not found\n";
      }
      response.prepare_payload();
      co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
    }
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    --self->connections;
  }
};

InboundListeners::~InboundListeners() {
  for (auto& [port, listener] : listeners_) {
    boost::system::error_code ignored;
    listener->acceptor.close(ignored);
  }
}

InboundListeners::Status InboundListeners::ensure(std::uint16_t port, bool ipv6) {
  if (listeners_.count(port)) return {State::Listening, {}};
  auto listener = std::make_shared<Listener>(io_);
  const tcp::endpoint where(ipv6 ? tcp::v6() : tcp::v4(), port);
  boost::system::error_code ec;
  listener->acceptor.open(where.protocol(), ec);
  if (!ec) listener->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) listener->acceptor.bind(where, ec);
  if (!ec) listener->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec == asio::error::address_in_use) return {State::HeldByAnother, {}};
  if (ec) {
    return {State::Failed,
            fmt::format("cannot listen on port {} to receive the control plane's connection: {}{}",
                        port, ec.message(),
                        ec == asio::error::access_denied && port < 1024
                            ? " (ports below 1024 need CAP_NET_BIND_SERVICE)"
                            : "")};
  }
  listeners_.emplace(port, listener);
  asio::co_spawn(io_, Listener::accept_loop(listener), asio::detached);
  return {State::Listening, {}};
}

InboundProber::InboundProber(asio::io_context& io, std::shared_ptr<dns::Resolver> resolver,
                             KubernetesApi api)
    : listeners_(io), client_(std::move(resolver), std::move(api)) {}

asio::awaitable<ProbeResult> InboundProber::probe(const Endpoint& endpoint, Deadline deadline) {
  const auto start = Clock::now();
  ProbeResult result;
  result.address = endpoint.host;
  const auto listening =
      listeners_.ensure(endpoint.port, endpoint.host.find(':') != std::string::npos);
  if (listening.state == InboundListeners::State::Failed) {
    // Nobody can answer on this port: a probe now could only ever fail or lie.
    result.outcome = Outcome::Error;
    result.message = listening.problem;
    result.set_phase(Phase::Total, since(start));
    co_return result;
  }
  const KubernetesApi& api = client_.api();
  const std::string nonce = new_nonce();
  const std::string what = fmt::format("this node's port {} (pod {}/{})", endpoint.port,
                                       api.namespace_name, api.pod_name);
  const std::string path =
      fmt::format("/api/v1/namespaces/{}/pods/{}:{}/proxy{}{}", api.namespace_name, api.pod_name,
                  endpoint.port, kInboundPath, nonce);
  ProbeResult exchange;
  auto response = co_await client_.get(path, deadline, exchange);
  // Only the whole round trip means anything: the phases of the way to the API server are
  // not the path probed.
  const std::string address = result.address;
  if (!response) {
    result = std::move(exchange);
    result.phases = {};
    result.address = address;
    if (result.outcome == Outcome::Timeout) {
      result.message = fmt::format(
          "no answer through the API server within the timeout: it could not connect to {} in "
          "time, or the API server itself is slow ({})",
          what, result.message);
    } else {
      result.message = "cannot ask the API server: " + result.message;
    }
  } else {
    result.http_status = response->status;
    if (response->status == 200 && response->body.find(answer_for(nonce)) != std::string::npos) {
      result.outcome = Outcome::Ok;
      result.message = fmt::format("the control plane reached {}", what);
    } else if (listening.state == InboundListeners::State::HeldByAnother &&
               !parse_api_status(response->body)) {
      // Not our answer, but an answer from this port: the connection got through.
      result.outcome = Outcome::Ok;
      result.message = fmt::format(
          "port {} is held by another process, which answered HTTP {} through the API server: "
          "the path control plane -> node is open",
          endpoint.port, response->status);
    } else {
      explain_api_failure(*response, api, "pods/proxy", what, result);
    }
  }
  result.set_phase(Phase::Total, since(start));
  co_return result;
}

asio::awaitable<ProbeResult> KubeletProber::probe(const Endpoint& endpoint, Deadline deadline) {
  const auto start = Clock::now();
  ProbeResult result;
  const KubernetesApi& api = client_.api();
  const std::string what =
      fmt::format("this node's kubelet (logs of pod {}/{})", api.namespace_name, api.pod_name);
  const std::string path = fmt::format("/api/v1/namespaces/{}/pods/{}/log?tailLines=1",
                                       api.namespace_name, api.pod_name);
  ProbeResult exchange;
  auto response = co_await client_.get(path, deadline, exchange);
  if (!response) {
    result = std::move(exchange);
    result.phases = {};
    result.message = (result.outcome == Outcome::Timeout
                          ? "no answer through the API server within the timeout: "
                          : "cannot ask the API server: ") +
                     result.message;
  } else {
    result.http_status = response->status;
    if (response->status == 200) {
      result.outcome = Outcome::Ok;
      result.message = fmt::format("the control plane reached {}", what);
    } else {
      explain_api_failure(*response, api, "pods/log", what, result);
    }
  }
  result.address = endpoint.host;
  result.set_phase(Phase::Total, since(start));
  co_return result;
}

}  // namespace reachprobe
