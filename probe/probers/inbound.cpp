#include "probe/probers/inbound.hpp"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/beast/http.hpp>
#include <set>

#include "probe/core/endpoint.hpp"

namespace reachprobe {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr std::string_view kInboundPath = "/reachprobe/inbound/";
constexpr std::size_t kMaxConnections = 32;
constexpr std::uint16_t kKubeletPort = 10250;

bool has(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
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
  std::size_t holds = 0;
  // Every connection accepted and not yet done: closed with the listener, since an accepted
  // socket keeps the port bound as much as the listening one.
  std::set<std::shared_ptr<beast::tcp_stream>> connections;

  void close() {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    for (const auto& stream : connections) stream->socket().close(ignored);
    connections.clear();
  }

  static asio::awaitable<void> accept_loop(std::shared_ptr<Listener> self) {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await self->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) co_return;
      if (ec) continue;
      // The API server opens one connection per probe: more is not the API server.
      if (self->connections.size() >= kMaxConnections) continue;
      // Closing sends a reset, not a FIN: a FIN first from this side would leave a TIME_WAIT
      // socket on the port for a minute, and a process binding it without SO_REUSEADDR
      // would fail all that time. The API server has the answer by then (it reads until
      // the end of the body, then closes its side, which is what answer() waits for).
      socket.set_option(asio::socket_base::linger(true, 0), ec);
      auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
      self->connections.insert(stream);
      asio::co_spawn(self->acceptor.get_executor(), answer(self, stream), asio::detached);
    }
  }

  static asio::awaitable<void> answer(std::shared_ptr<Listener> self,
                                      std::shared_ptr<beast::tcp_stream> stream) {
    stream->expires_after(std::chrono::seconds(10));
    beast::flat_buffer buffer(4096);
    http::request_parser<http::empty_body> parser;
    parser.header_limit(2048);
    boost::system::error_code ec;
    co_await http::async_read(*stream, buffer, parser,
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
      co_await http::async_write(*stream, response, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!ec) {
      // Until the peer closes (it asked for nothing more), bounded.
      stream->expires_after(std::chrono::seconds(2));
      char sink[512];
      while (!ec) {
        co_await stream->async_read_some(asio::buffer(sink),
                                         asio::redirect_error(asio::use_awaitable, ec));
      }
    }
    if (self->connections.erase(stream)) stream->socket().close(ec);
  }
};

InboundListeners::Hold::Hold(State state, std::shared_ptr<Listener> listener, std::string problem)
    : state_(state), listener_(std::move(listener)), problem_(std::move(problem)) {
  if (listener_) ++listener_->holds;
}

InboundListeners::Hold::Hold(Hold&& other) noexcept
    : state_(other.state_),
      listener_(std::move(other.listener_)),
      problem_(std::move(other.problem_)) {}

InboundListeners::Hold& InboundListeners::Hold::operator=(Hold&& other) noexcept {
  if (this != &other) {
    release();
    state_ = other.state_;
    listener_ = std::move(other.listener_);
    problem_ = std::move(other.problem_);
  }
  return *this;
}

InboundListeners::Hold::~Hold() { release(); }

void InboundListeners::Hold::release() {
  if (!listener_) return;
  if (--listener_->holds == 0) listener_->close();
  listener_.reset();
}

InboundListeners::Hold InboundListeners::hold(std::uint16_t port, bool ipv6) {
  // The kubelet's port: a listener there could only ever be refused, or, were the kubelet
  // down, stand in for it. The `kubelet` probe is the path to it.
  if (port == kKubeletPort) return Hold(State::Kubelet, nullptr);
  const auto key = std::pair{port, ipv6};
  if (auto it = listeners_.find(key); it != listeners_.end()) {
    if (auto open = it->second.lock(); open && open->acceptor.is_open() && open->holds > 0) {
      return Hold(State::Listening, open);
    }
    listeners_.erase(it);
  }
  auto listener = std::make_shared<Listener>(io_);
  const tcp::endpoint where(ipv6 ? tcp::v6() : tcp::v4(), port);
  boost::system::error_code ec;
  listener->acceptor.open(where.protocol(), ec);
  // Over this process's own leftovers only: Linux refuses SO_REUSEADDR a port that another
  // socket listens on.
  if (!ec) listener->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  // IPv6 only on the IPv6 listener, so it does not collide with an IPv4 one on the port.
  if (!ec && ipv6) listener->acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec) listener->acceptor.bind(where, ec);
  if (!ec) listener->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec == asio::error::address_in_use) return Hold(State::HeldByAnother, nullptr);
  if (ec) {
    return Hold(
        State::Failed, nullptr,
        fmt::format("cannot listen on port {} to receive the control plane's connection: {}{}",
                    port, ec.message(),
                    ec == asio::error::access_denied && port < 1024
                        ? " (ports below 1024 need CAP_NET_BIND_SERVICE)"
                        : ""));
  }
  listeners_[key] = listener;
  asio::co_spawn(io_, Listener::accept_loop(listener), asio::detached);
  return Hold(State::Listening, listener);
}

bool InboundListeners::listening(std::uint16_t port, bool ipv6) const {
  auto it = listeners_.find(std::pair{port, ipv6});
  if (it == listeners_.end()) return false;
  auto open = it->second.lock();
  return open && open->acceptor.is_open();
}

std::optional<std::string> judge_held_port_answer(const HttpResponseSummary& response,
                                                  std::string_view pod_name) {
  const auto status = parse_api_status(response.body);
  if (!status) return fmt::format("answered HTTP {}", response.status);
  const std::string_view message = status->message;
  // The API server's own answers: authentication, its throttling, RBAC or a missing pod
  // (Status objects naming this pod: `pods "NAME" is forbidden`, `pods "NAME" not found`).
  if (response.status == 401 || status->reason == "TooManyRequests" ||
      has(message, fmt::format("pods \"{}\"", pod_name))) {
    return std::nullopt;
  }
  constexpr std::string_view kProxyError = "error trying to reach service: ";
  const auto proxy_error = message.find(kProxyError);
  if (proxy_error == std::string_view::npos) {
    // A Status the holder wrote itself (a Kubernetes-style server on the port).
    return fmt::format("answered HTTP {}", response.status);
  }
  const std::string_view go_error = message.substr(proxy_error + kProxyError.size());
  // The connect itself failed: the path is what explain_api_failure reads from the dial error.
  if (has(go_error, "dial tcp") || has(go_error, "waiting for connection")) return std::nullopt;
  // Go's texts for a connection that was set up, then ended without an HTTP answer.
  if (go_error == "EOF" || has(go_error, "unexpected EOF")) {
    return std::string("accepted the connection and closed it without an HTTP answer");
  }
  if (has(go_error, "connection reset by peer")) {
    return std::string("accepted the connection and reset it");
  }
  if (has(go_error, "broken pipe")) {
    return std::string("accepted the connection and closed it before the request was sent");
  }
  if (has(go_error, "malformed HTTP") || has(go_error, "transport connection broken")) {
    return fmt::format(
        "accepted the connection and answered something that is not HTTP (a TLS server's alert, "
        "or another protocol): {}",
        body_excerpt(std::string(go_error), 120));
  }
  return std::nullopt;
}

InboundProber::InboundProber(asio::io_context& io, std::shared_ptr<dns::Resolver> resolver,
                             KubernetesApi api)
    : listeners_(io), client_(std::move(resolver), std::move(api)) {}

asio::awaitable<ProbeResult> InboundProber::probe(const Endpoint& endpoint, Deadline deadline) {
  const auto start = Clock::now();
  const bool ipv6 = endpoint.host.find(':') != std::string::npos;
  // Bound just before the API server is asked to connect, closed as soon as it answered.
  auto hold = listeners_.hold(endpoint.port, ipv6);
  ProbeResult result;
  if (hold.state() == InboundListeners::State::Failed) {
    // Nobody can answer on this port: a probe now could only ever fail or lie.
    result.address = endpoint.host;
    result.outcome = Outcome::Error;
    result.message = hold.problem();
  } else {
    const auto state = hold.state();
    result = co_await ask_through_pod_proxy(endpoint, deadline, std::move(hold));
    if (state == InboundListeners::State::HeldByAnother && result.outcome == Outcome::Refused &&
        !deadline.passed()) {
      // The holder let the port go between the bind that found it taken and the API
      // server's connect (a webhook restarting): now reachprobe can listen, and asks again,
      // rather than report a path closed that is open.
      if (auto again = listeners_.hold(endpoint.port, ipv6);
          again.state() == InboundListeners::State::Listening) {
        result = co_await ask_through_pod_proxy(endpoint, deadline, std::move(again));
        result.message = fmt::format(
            "{} (asked twice: the process holding port {} let it go during the first ask)",
            result.message, endpoint.port);
      }
    }
  }
  result.set_phase(Phase::Total, since(start));
  co_return result;
}

asio::awaitable<ProbeResult> InboundProber::ask_through_pod_proxy(const Endpoint& endpoint,
                                                                  Deadline deadline,
                                                                  InboundListeners::Hold hold) {
  ProbeResult result;
  result.address = endpoint.host;
  const KubernetesApi& api = client_.api();
  const std::string nonce = new_nonce();
  const std::string what = fmt::format("this node's port {} (pod {}/{})", endpoint.port,
                                       api.namespace_name, api.pod_name);
  const std::string path =
      fmt::format("/api/v1/namespaces/{}/pods/{}:{}/proxy{}{}", api.namespace_name, api.pod_name,
                  endpoint.port, kInboundPath, nonce);
  ProbeResult exchange;
  auto response = co_await client_.get(path, deadline, exchange);
  const auto state = hold.state();
  hold.release();
  const bool held_by_another =
      state == InboundListeners::State::HeldByAnother || state == InboundListeners::State::Kubelet;
  // Only the whole round trip means anything: the phases of the way to the API server are
  // not the path probed.
  if (!response) {
    result = std::move(exchange);
    result.phases = {};
    result.address = endpoint.host;
    if (result.outcome == Outcome::Timeout) {
      result.message = fmt::format(
          "no answer through the API server within the timeout: it could not connect to {} in "
          "time, {}or the API server itself is slow ({})",
          what,
          held_by_another ? fmt::format("the process holding port {} accepted and never "
                                        "answered, ",
                                        endpoint.port)
                          : std::string(),
          result.message);
    } else {
      result.message = "cannot ask the API server: " + result.message;
    }
    co_return result;
  }
  result.http_status = response->status;
  std::optional<std::string> taken;
  if (response->status == 200 && response->body.find(answer_for(nonce)) != std::string::npos) {
    result.outcome = Outcome::Ok;
    result.message = fmt::format("the control plane reached {}", what);
  } else if (held_by_another && (taken = judge_held_port_answer(*response, api.pod_name))) {
    // Not our answer, but the connection got through to whoever holds the port.
    result.outcome = Outcome::Ok;
    result.message = fmt::format(
        "{} {} through the API server: the path control plane -> node is open",
        state == InboundListeners::State::Kubelet
            ? fmt::format("port {} is the kubelet's (reachprobe never listens there), and the "
                          "kubelet",
                          endpoint.port)
            : fmt::format("port {} is held by another process, which", endpoint.port),
        *taken);
  } else {
    explain_api_failure(*response, api, "pods/proxy", what, result);
  }
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
