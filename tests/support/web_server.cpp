#include "tests/support/web_server.hpp"

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
#include <mutex>

#include "tests/support/netns.hpp"

namespace reachprobe::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

struct TestWebServer::Server {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::optional<asio::ssl::context> tls;
  mutable std::mutex mutex;
  std::map<std::string, WebReply> replies;
  std::vector<WebRequest> received;
  int handshakes = 0;
  int accepted = 0;

  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) continue;
      {
        std::lock_guard lock(mutex);
        ++accepted;
      }
      if (tls) {
        asio::co_spawn(io, serve_tls(std::move(socket)), asio::detached);
      } else {
        asio::co_spawn(io, serve_plain(std::move(socket)), asio::detached);
      }
    }
  }

  asio::awaitable<void> serve_plain(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    stream.expires_after(std::chrono::seconds(10));
    co_await serve(stream);
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  asio::awaitable<void> serve_tls(tcp::socket socket) {
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    boost::system::error_code ec;
    co_await stream.async_handshake(asio::ssl::stream_base::server,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    {
      std::lock_guard lock(mutex);
      ++handshakes;
    }
    co_await serve(stream);
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  template <typename Stream>
  asio::awaitable<void> serve(Stream& stream) {
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    boost::system::error_code ec;
    co_await http::async_read(stream, buffer, request,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    WebReply reply;
    {
      std::lock_guard lock(mutex);
      WebRequest seen{std::string(request.method_string()), std::string(request.target()), {}};
      for (const auto& field : request) {
        std::string name(field.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        seen.headers[name] = std::string(field.value());
      }
      received.push_back(std::move(seen));
      if (auto found = replies.find(std::string(request.target())); found != replies.end()) {
        reply = found->second;
      }
    }
    if (reply.delay.count() > 0) {
      asio::steady_timer timer(io, reply.delay);
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    http::response<http::string_body> response{static_cast<http::status>(reply.status), 11};
    response.set(http::field::server, "reachprobe-test");
    for (const auto& [name, value] : reply.headers) response.set(name, value);
    response.body() = reply.body;
    response.keep_alive(false);
    response.prepare_payload();
    co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
  }
};

TestWebServer::TestWebServer(std::optional<TestCertificate> certificate, WebServerPlace place)
    : server_(std::make_unique<Server>()) {
  if (certificate) {
    server_->tls.emplace(asio::ssl::context::tls_server);
    server_->tls->use_certificate_chain(asio::buffer(certificate->cert_pem));
    server_->tls->use_private_key(asio::buffer(certificate->key_pem), asio::ssl::context::pem);
  }
  tcp::endpoint where(asio::ip::make_address(place.address), 0);
  {
    // The listening socket is made in the namespace; what it accepts belongs there too.
    std::optional<InNetns> inside;
    if (!place.netns.empty()) inside.emplace(place.netns);
    server_->acceptor.open(where.protocol());
  }
  server_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  server_->acceptor.bind(where);
  server_->acceptor.listen();
  port_ = server_->acceptor.local_endpoint().port();
  asio::co_spawn(server_->io, server_->accept_loop(), asio::detached);
  thread_ = std::thread([this] { server_->io.run(); });
}

TestWebServer::~TestWebServer() {
  server_->io.stop();
  thread_.join();
}

void TestWebServer::set_reply(const std::string& target, WebReply reply) {
  std::lock_guard lock(server_->mutex);
  server_->replies[target] = std::move(reply);
}

std::vector<WebRequest> TestWebServer::requests() const {
  std::lock_guard lock(server_->mutex);
  return server_->received;
}

int TestWebServer::accepted_connections() const {
  std::lock_guard lock(server_->mutex);
  return server_->accepted;
}

int TestWebServer::completed_handshakes() const {
  std::lock_guard lock(server_->mutex);
  return server_->handshakes;
}

}  // namespace reachprobe::test
