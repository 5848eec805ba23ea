#include "probe/http/server.hpp"

#include "probe/http/routes.hpp"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <stdexcept>

namespace reachprobe::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::ip::tcp;

namespace {

constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

constexpr const char* kIndexPage =
    "<html><head><title>reachprobe</title></head><body><h1>reachprobe</h1>"
    "<p><a href=\"/metrics\">metrics</a> &middot; <a href=\"/healthz\">healthz</a> &middot; "
    "<a href=\"/readyz\">readyz</a></p></body></html>\n";

using Response = bhttp::response<bhttp::string_body>;

Response make_response(bhttp::status status, std::string body, const char* content_type,
                       unsigned version, bool keep_alive) {
  Response res{status, version};
  res.set(bhttp::field::server, "reachprobe");
  res.set(bhttp::field::content_type, content_type);
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}


asio::awaitable<std::string> render_on(std::function<std::string()> render) { co_return render(); }

}  // namespace

tcp::endpoint parse_listen_address(const std::string& text) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      throw std::invalid_argument("expected [IPv6]:PORT");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) throw std::invalid_argument("expected IP:PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) host = "0.0.0.0";
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) throw std::invalid_argument(fmt::format("'{}' is not an IP address", host));
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
    throw std::invalid_argument(fmt::format("'{}' is not a port", port));
  }
  return tcp::endpoint(address, static_cast<std::uint16_t>(std::stoi(port)));
}

struct Server::Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  // True while waiting for (the rest of) a request: the connection can be shed.
  bool waiting = true;
  std::chrono::steady_clock::time_point waiting_since = std::chrono::steady_clock::now();
};

Server::Server(asio::io_context& io, ServerOptions options, Handlers handlers)
    : io_(io), options_(std::move(options)), handlers_(std::move(handlers)), acceptor_(io) {
  try {
    auto endpoint = parse_listen_address(options_.listen);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("cannot listen on {}: {}", options_.listen, e.what()));
  }
  asio::co_spawn(io_, accept_loop(), asio::detached);
}

Server::~Server() {
  stop();
  renderer_.join();
}

tcp::endpoint Server::local_endpoint() const { return acceptor_.local_endpoint(); }

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (auto& c : connections_) c->stream.socket().close(ignored);
  connections_.clear();
}

void Server::make_room() {
  while (connections_.size() >= options_.max_connections) {
    std::shared_ptr<Connection> victim;
    for (auto& c : connections_) {
      if (c->waiting && (!victim || c->waiting_since < victim->waiting_since)) victim = c;
    }
    if (!victim) return;  // every slot is busy answering: the new one waits its turn
    boost::system::error_code ignored;
    victim->stream.socket().close(ignored);
    connections_.remove(victim);
  }
}

asio::awaitable<void> Server::accept_loop() {
  while (!stopped_) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (stopped_) co_return;
    if (ec) {
      // EMFILE and friends: do not spin; the next accept will tell.
      if (ec == asio::error::operation_aborted) co_return;
      asio::steady_timer pause(io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    make_room();
    auto connection = std::make_shared<Connection>(std::move(socket));
    connections_.push_back(connection);
    asio::co_spawn(io_, serve(connection), asio::detached);
  }
}

asio::awaitable<void> Server::serve(std::shared_ptr<Connection> connection) {
  beast::flat_buffer buffer(options_.max_header_bytes + 1024);
  auto& stream = connection->stream;
  for (;;) {
    boost::system::error_code ec;
    connection->waiting = true;
    connection->waiting_since = std::chrono::steady_clock::now();
    bhttp::request_parser<bhttp::empty_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    stream.expires_after(options_.read_timeout);
    co_await bhttp::async_read(stream, buffer, parser,
                               asio::redirect_error(asio::use_awaitable, ec));
    connection->waiting = false;
    if (stopped_) co_return;

    Response res;
    bool close_after = false;
    bool head_only = false;
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::bad_descriptor) {
      break;
    } else if (ec == bhttp::error::header_limit) {
      res = make_response(bhttp::status::request_header_fields_too_large,
                          "request header too large\n", "text/plain", 11, false);
      close_after = true;
    } else if (ec) {
      res = make_response(bhttp::status::bad_request, "bad request\n", "text/plain", 11, false);
      close_after = true;
    } else {
      const auto& req = parser.get();
      const bool keep_alive = req.keep_alive();
      const auto method = req.method();
      const auto where =
          route(method, std::string_view(req.target().data(), req.target().size()));
      if (where == Route::NotFound) {
        res = make_response(bhttp::status::not_found, "not found\n", "text/plain", req.version(),
                            keep_alive);
      } else if (where == Route::MethodNotAllowed) {
        res = make_response(bhttp::status::method_not_allowed, "method not allowed\n", "text/plain",
                            req.version(), keep_alive);
        res.set(bhttp::field::allow, "GET, HEAD");
      } else if (where == Route::Metrics) {
        std::string body;
        if (handlers_.render_metrics) {
          body = co_await asio::co_spawn(renderer_, render_on(handlers_.render_metrics),
                                         asio::use_awaitable);
        }
        if (stopped_) co_return;
        res = make_response(bhttp::status::ok, std::move(body), kMetricsContentType, req.version(),
                            keep_alive);
      } else if (where == Route::Healthz) {
        // Answering at all proves the event loop turns: this runs on it.
        res = make_response(bhttp::status::ok, "ok\n", "text/plain", req.version(), keep_alive);
      } else if (where == Route::Readyz) {
        const bool ready = !handlers_.ready || handlers_.ready();
        res = make_response(ready ? bhttp::status::ok : bhttp::status::service_unavailable,
                            ready ? "ok\n" : "not ready: not every endpoint has been probed yet\n",
                            "text/plain", req.version(), keep_alive);
      } else {
        res = make_response(bhttp::status::ok, kIndexPage, "text/html; charset=utf-8",
                            req.version(), keep_alive);
      }
      head_only = method == bhttp::verb::head;
      close_after = !keep_alive;
    }

    stream.expires_after(options_.write_timeout);
    if (head_only) {
      // The headers of the GET, Content-Length included, and no body.
      bhttp::response_serializer<bhttp::string_body> sr{res};
      co_await bhttp::async_write_header(stream, sr, asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec || close_after || stopped_) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.socket().close(ignored);
  connections_.remove(connection);
}

}  // namespace reachprobe::http
