#include "tests/support/fake_apiserver.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cstring>
#include <future>
#include <optional>
#include <regex>
#include <stdexcept>

#include "probe/core/deadline.hpp"

namespace reachprobe::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

std::string json_escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string status_json(int code, const std::string& reason, const std::string& message) {
  return "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
         "\"message\":\"" +
         json_escaped(message) + "\",\"reason\":\"" + reason +
         "\",\"code\":" + std::to_string(code) + "}\n";
}

// Go's net error text for a failed connect.
std::string go_dial_error(const boost::system::error_code& ec, bool timed_out) {
  if (timed_out) return "i/o timeout";
  if (ec == asio::error::connection_refused) return "connect: connection refused";
  if (ec == asio::error::host_unreachable) return "connect: no route to host";
  if (ec == asio::error::network_unreachable) return "connect: network is unreachable";
  return "connect: " + ec.message();
}

}  // namespace

struct FakeApiServer::Server {
  explicit Server(FakeApiServerOptions o) : options(std::move(o)) {}
  FakeApiServerOptions options;
  asio::io_context io;
  std::optional<asio::ssl::context> tls;
  std::optional<tcp::acceptor> acceptor;
  mutable std::mutex mutex;
  std::vector<std::string> seen;

  struct Answer {
    int status = 200;
    std::string body;
  };

  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted) co_return;
      if (!ec) asio::co_spawn(io, serve(std::move(socket)), asio::detached);
    }
  }

  // Connects to ip:port as kube-apiserver's dialer does: one attempt, a dial timeout.
  asio::awaitable<std::optional<tcp::socket>> dial(const std::string& ip, std::uint16_t port,
                                                   std::string& error) {
    tcp::socket socket(io);
    boost::system::error_code ec;
    bool timed_out = false;
    {
      ExpiryGuard guard(io.get_executor(), Deadline::after(options.dial_timeout), [&socket] {
        boost::system::error_code ignored;
        socket.cancel(ignored);
      });
      co_await socket.async_connect(tcp::endpoint(asio::ip::make_address(ip), port),
                                    asio::redirect_error(asio::use_awaitable, ec));
      timed_out = guard.fired();
    }
    if (ec || timed_out) {
      error = "dial tcp " + ip + ":" + std::to_string(port) + ": " + go_dial_error(ec, timed_out);
      co_return std::nullopt;
    }
    co_return std::optional<tcp::socket>(std::move(socket));
  }

  asio::awaitable<Answer> proxy(std::uint16_t port, const std::string& path) {
    std::string error;
    auto socket = co_await dial(options.pod_ip, port, error);
    if (!socket) {
      co_return Answer{
          503, status_json(503, "ServiceUnavailable", "error trying to reach service: " + error)};
    }
    beast::tcp_stream stream(std::move(*socket));
    stream.expires_after(std::chrono::seconds(10));
    http::request<http::empty_body> request{http::verb::get, path, 11};
    request.set(http::field::host, options.pod_ip + ":" + std::to_string(port));
    request.set(http::field::connection, "close");
    boost::system::error_code ec;
    co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    if (!ec) {
      co_await http::async_read(stream, buffer, response,
                                asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      co_return Answer{503, status_json(503, "ServiceUnavailable",
                                        "error trying to reach service: " + ec.message())};
    }
    co_return Answer{static_cast<int>(response.result_int()), response.body()};
  }

  asio::awaitable<Answer> logs() {
    std::string error;
    auto socket = co_await dial(options.pod_ip, options.kubelet_port, error);
    if (!socket) {
      co_return Answer{500,
                       status_json(500, "InternalError",
                                   "Get \"https://" + options.pod_ip + ":" +
                                       std::to_string(options.kubelet_port) + "/containerLogs/" +
                                       options.namespace_name + "/" + options.pod_name +
                                       "/reachprobe?tailLines=1\": " + error)};
    }
    co_return Answer{200, "level=info msg=\"reachprobe started\"\n"};
  }

  asio::awaitable<Answer> answer(const http::request<http::empty_body>& request) {
    const std::string target(request.target());
    {
      std::lock_guard lock(mutex);
      seen.push_back(target);
    }
    if (request[http::field::authorization] != "Bearer " + options.token) {
      co_return Answer{401, status_json(401, "Unauthorized", "Unauthorized")};
    }
    static const std::regex proxy_path(
        R"(^/api/v1/namespaces/([^/]+)/pods/([^/:]+):(\d+)/proxy(/.*)$)");
    static const std::regex log_path(R"(^/api/v1/namespaces/([^/]+)/pods/([^/]+)/log(\?.*)?$)");
    std::smatch m;
    const bool is_proxy = std::regex_match(target, m, proxy_path);
    const bool is_log = !is_proxy && std::regex_match(target, m, log_path);
    if (!is_proxy && !is_log) co_return Answer{404, status_json(404, "NotFound", "not found")};
    const std::string ns = m[1], pod = m[2];
    if (options.forbidden) {
      co_return Answer{
          403, status_json(403, "Forbidden",
                           "pods \"" + pod + "\" is forbidden: User \"system:serviceaccount:" + ns +
                               ":reachprobe\" cannot get resource \"pods/" +
                               (is_proxy ? "proxy" : "log") +
                               "\" in API group \"\" in the "
                               "namespace \"" +
                               ns + "\"")};
    }
    if (ns != options.namespace_name || pod != options.pod_name) {
      co_return Answer{404, status_json(404, "NotFound", "pods \"" + pod + "\" not found")};
    }
    if (is_proxy) co_return co_await proxy(static_cast<std::uint16_t>(std::stoi(m[3])), m[4]);
    co_return co_await logs();
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
    boost::system::error_code ec;
    co_await stream.async_handshake(asio::ssl::stream_base::server,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    beast::flat_buffer buffer;
    http::request<http::empty_body> request;
    co_await http::async_read(stream, buffer, request,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    Answer a = co_await answer(request);
    http::response<http::string_body> response{static_cast<http::status>(a.status), 11};
    response.set(http::field::content_type,
                 a.body.starts_with("{") ? "application/json" : "text/plain");
    response.body() = std::move(a.body);
    response.keep_alive(false);
    response.prepare_payload();
    co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
  }
};

FakeApiServer::FakeApiServer(FakeApiServerOptions options)
    : server_(std::make_shared<Server>(std::move(options))) {
  std::promise<std::uint16_t> started;
  auto port = started.get_future();
  thread_ = std::thread([server = server_, &started] {
    try {
      if (!server->options.netns.empty()) {
        // Every socket this thread makes (listener, dials) is the control plane's.
        const std::string path = "/var/run/netns/" + server->options.netns;
        const int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) {
          if (ns >= 0) ::close(ns);
          throw std::runtime_error("setns " + path + ": " + std::strerror(errno));
        }
        ::close(ns);
      }
      server->tls.emplace(asio::ssl::context::tls_server);
      server->tls->use_certificate_chain(asio::buffer(server->options.certificate.cert_pem));
      server->tls->use_private_key(asio::buffer(server->options.certificate.key_pem),
                                   asio::ssl::context::pem);
      server->acceptor.emplace(
          server->io, tcp::endpoint(asio::ip::make_address(server->options.listen_address), 0));
      asio::co_spawn(server->io, server->accept_loop(), asio::detached);
      started.set_value(server->acceptor->local_endpoint().port());
    } catch (...) {
      started.set_exception(std::current_exception());
      return;
    }
    server->io.run();
  });
  try {
    port_ = port.get();
  } catch (...) {
    thread_.join();
    throw;
  }
}

FakeApiServer::~FakeApiServer() {
  server_->io.stop();
  thread_.join();
}

std::string FakeApiServer::url() const {
  return "https://" + server_->options.listen_address + ":" + std::to_string(port_);
}

std::vector<std::string> FakeApiServer::requests() const {
  std::lock_guard lock(server_->mutex);
  return server_->seen;
}

}  // namespace reachprobe::test
