#include "probe/http/server.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <stdexcept>

#include "probe/http/auth.hpp"
#include "probe/http/routes.hpp"

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

// About this much of the exposition per HTTP chunk: large enough that the per-chunk thread
// hop and write are noise, small enough that a scrape holds little memory.
constexpr std::size_t kMetricsPieceBytes = std::size_t{256} * 1024;

// Renders the next piece into `text`, whose capacity is reused from piece to piece: a
// fresh 256 KiB buffer per piece would be given back to the kernel and faulted in again
// each time. Whether more follows.
asio::awaitable<bool> render_piece(std::shared_ptr<MetricsStream> stream, std::string* text) {
  text->clear();
  co_return stream->next(*text, kMetricsPieceBytes);
}

class WholeText final : public MetricsStream {
 public:
  explicit WholeText(std::string text) : text_(std::move(text)) {}
  bool next(std::string& out, std::size_t) override {
    out += text_;
    return false;
  }

 private:
  std::string text_;
};

asio::awaitable<bool> verify_on(const Authenticator& auth, std::string authorization) {
  co_return auth.verify_password(authorization);
}

// More waiting than this and a client is guessing passwords: refuse without hashing.
constexpr std::size_t kMaxPendingVerifications = 4;

std::shared_ptr<asio::ssl::context> make_server_context(const WebTlsConfig& config) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(context->native_handle(),
                                config.tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
  boost::system::error_code ec;
  context->use_certificate_chain_file(config.cert_file, ec);
  if (ec) {
    throw std::runtime_error(
        fmt::format("cannot use cert_file {}: {}", config.cert_file, ec.message()));
  }
  context->use_private_key_file(config.key_file, asio::ssl::context::pem, ec);
  if (ec) {
    throw std::runtime_error(
        fmt::format("cannot use key_file {}: {}", config.key_file, ec.message()));
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    throw std::runtime_error(fmt::format("key_file {} does not belong to cert_file {}",
                                         config.key_file, config.cert_file));
  }
  if (!config.client_ca_file.empty()) {
    context->load_verify_file(config.client_ca_file, ec);
    if (ec) {
      throw std::runtime_error(
          fmt::format("cannot use client_ca_file {}: {}", config.client_ca_file, ec.message()));
    }
  }
  switch (config.client_auth) {
    case WebTlsConfig::ClientAuth::None:
      context->set_verify_mode(asio::ssl::verify_none);
      break;
    case WebTlsConfig::ClientAuth::VerifyIfGiven:
      context->set_verify_mode(asio::ssl::verify_peer);
      break;
    case WebTlsConfig::ClientAuth::Require:
      context->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
      break;
  }
  return context;
}

}  // namespace

std::unique_ptr<MetricsStream> metrics_text(std::string text) {
  return std::make_unique<WholeText>(std::move(text));
}

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
  Connection(tcp::socket socket, std::shared_ptr<asio::ssl::context> tls) {
    if (tls) {
      tls_stream.emplace(beast::tcp_stream(std::move(socket)), *tls);
      context = std::move(tls);
    } else {
      plain.emplace(std::move(socket));
    }
  }
  beast::tcp_stream& transport() { return plain ? *plain : beast::get_lowest_layer(*tls_stream); }
  // One of the two, by whether the web config has TLS.
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_stream;
  std::shared_ptr<asio::ssl::context> context;  // outlives the stream that uses it
  // True while waiting for (the rest of) a request: the connection can be shed.
  bool waiting = true;
  std::chrono::steady_clock::time_point waiting_since = std::chrono::steady_clock::now();
};

Server::Server(asio::io_context& io, ServerOptions options, Handlers handlers)
    : io_(io), options_(std::move(options)), handlers_(std::move(handlers)), acceptor_(io) {
  if (options_.web.requires_auth()) auth_ = std::make_unique<Authenticator>(options_.web);
  // A certificate that does not load is a startup error, not a server without TLS.
  if (options_.web.tls) tls_ = tls_context();
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
  verifier_.join();
}

std::shared_ptr<asio::ssl::context> Server::tls_context() {
  const auto& config = *options_.web.tls;
  auto stamp = [](const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) return FileStamp{};
    return FileStamp{info.st_ino, info.st_mtim};
  };
  const FileStamp cert = stamp(config.cert_file);
  const FileStamp key = stamp(config.key_file);
  if (tls_ && cert == cert_stamp_ && key == key_stamp_) return tls_;
  if (!tls_) {
    tls_ = make_server_context(config);
  } else {
    try {
      tls_ = make_server_context(config);
      spdlog::info("TLS certificate reloaded from {}", config.cert_file);
    } catch (const std::exception& e) {
      // Half-written files during a rotation: the next connection tries again.
      spdlog::warn("keeping the previous TLS certificate: {}", e.what());
      return tls_;
    }
  }
  cert_stamp_ = cert;
  key_stamp_ = key;
  return tls_;
}

asio::awaitable<Server::Access> Server::authorize(std::string authorization) {
  switch (auth_->check(authorization)) {
    case Authenticator::Verdict::Allowed:
      co_return Access::Allowed;
    case Authenticator::Verdict::Denied:
      co_return Access::Denied;
    case Authenticator::Verdict::NeedsBcrypt:
      break;
  }
  if (pending_verifications_ >= kMaxPendingVerifications) co_return Access::Busy;
  ++pending_verifications_;
  const bool ok =
      co_await asio::co_spawn(verifier_, verify_on(*auth_, authorization), asio::use_awaitable);
  --pending_verifications_;
  if (stopped_) co_return Access::Denied;
  if (ok) auth_->remember(authorization);
  co_return ok ? Access::Allowed : Access::Denied;
}

tcp::endpoint Server::local_endpoint() const { return acceptor_.local_endpoint(); }

void Server::stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (auto& c : connections_) c->transport().socket().close(ignored);
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
    victim->transport().socket().close(ignored);
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
    auto connection =
        std::make_shared<Connection>(std::move(socket), options_.web.tls ? tls_context() : nullptr);
    connections_.push_back(connection);
    asio::co_spawn(io_, serve(connection), asio::detached);
  }
}

asio::awaitable<void> Server::serve(std::shared_ptr<Connection> connection) {
  if (connection->plain) {
    co_await serve_requests(*connection->plain, *connection);
  } else {
    // The handshake counts as waiting for a request: same deadline, same shedding.
    boost::system::error_code ec;
    connection->transport().expires_after(options_.read_timeout);
    co_await connection->tls_stream->async_handshake(asio::ssl::stream_base::server,
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && !stopped_) co_await serve_requests(*connection->tls_stream, *connection);
  }
  if (stopped_) co_return;
  boost::system::error_code ignored;
  connection->transport().socket().shutdown(tcp::socket::shutdown_send, ignored);
  connection->transport().socket().close(ignored);
  connections_.remove(connection);
}

template <typename Stream>
asio::awaitable<void> Server::serve_requests(Stream& stream, Connection& connection_ref) {
  Connection* connection = &connection_ref;
  beast::flat_buffer buffer(options_.max_header_bytes + 1024);
  for (;;) {
    boost::system::error_code ec;
    connection->waiting = true;
    connection->waiting_since = std::chrono::steady_clock::now();
    bhttp::request_parser<bhttp::empty_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    connection->transport().expires_after(options_.read_timeout);
    co_await bhttp::async_read(stream, buffer, parser,
                               asio::redirect_error(asio::use_awaitable, ec));
    connection->waiting = false;
    if (stopped_) co_return;

    Response res;
    bool close_after = false;
    bool head_only = false;
    Access access = Access::Allowed;
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
        ec == asio::error::bad_descriptor || ec == asio::ssl::error::stream_truncated) {
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
      const auto where = route(method, std::string_view(req.target().data(), req.target().size()));
      if (where == Route::NotFound) {
        res = make_response(bhttp::status::not_found, "not found\n", "text/plain", req.version(),
                            keep_alive);
      } else if (where == Route::MethodNotAllowed) {
        res = make_response(bhttp::status::method_not_allowed, "method not allowed\n", "text/plain",
                            req.version(), keep_alive);
        res.set(bhttp::field::allow, "GET, HEAD");
      } else if ((where == Route::Metrics || where == Route::Index) && auth_ &&
                 (access = co_await authorize(std::string(req[bhttp::field::authorization]))) !=
                     Access::Allowed) {
        if (stopped_) co_return;
        if (access == Access::Busy) {
          res = make_response(bhttp::status::too_many_requests, "too many requests\n", "text/plain",
                              req.version(), false);
          close_after = true;
        } else {
          res = make_response(bhttp::status::unauthorized, "unauthorized\n", "text/plain",
                              req.version(), keep_alive);
          res.set(bhttp::field::www_authenticate, options_.web.basic_auth_users.empty()
                                                      ? "Bearer realm=\"reachprobe\""
                                                      : "Basic realm=\"reachprobe\"");
        }
      } else if (where == Route::Metrics) {
        const bool reusable = co_await write_metrics(stream, *connection, req.version(), keep_alive,
                                                     method == bhttp::verb::head);
        if (!reusable || stopped_) break;
        continue;
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
      close_after = close_after || !keep_alive;
    }

    connection->transport().expires_after(options_.write_timeout);
    if (head_only) {
      // The headers of the GET, Content-Length included, and no body.
      bhttp::response_serializer<bhttp::string_body> sr{res};
      co_await bhttp::async_write_header(stream, sr, asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await bhttp::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec || close_after || stopped_) break;
  }
}

template <typename Stream>
asio::awaitable<bool> Server::write_metrics(Stream& stream, Connection& connection,
                                            unsigned version, bool keep_alive, bool head_only) {
  // HTTP/1.1 gets chunks; an HTTP/1.0 client, which knows no chunks, gets a body that ends
  // with the connection.
  const bool chunked = version >= 11;
  bhttp::response<bhttp::empty_body> res{bhttp::status::ok, version};
  res.set(bhttp::field::server, "reachprobe");
  res.set(bhttp::field::content_type, kMetricsContentType);
  res.keep_alive(keep_alive && chunked);
  if (chunked) res.chunked(true);

  boost::system::error_code ec;
  connection.transport().expires_after(options_.write_timeout);
  bhttp::response_serializer<bhttp::empty_body> serializer{res};
  co_await bhttp::async_write_header(stream, serializer,
                                     asio::redirect_error(asio::use_awaitable, ec));
  if (ec || stopped_) co_return false;
  if (head_only) co_return res.keep_alive();

  std::shared_ptr<MetricsStream> source;
  if (handlers_.open_metrics) source = handlers_.open_metrics();
  std::string piece;
  piece.reserve(kMetricsPieceBytes + std::size_t{16} * 1024);
  for (bool more = source != nullptr; more;) {
    more = co_await asio::co_spawn(renderer_, render_piece(source, &piece), asio::use_awaitable);
    if (stopped_) co_return false;
    if (piece.empty()) continue;
    if (chunked) {
      co_await asio::async_write(stream, bhttp::make_chunk(asio::buffer(piece)),
                                 asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await asio::async_write(stream, asio::buffer(piece),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec || stopped_) co_return false;
  }
  if (!chunked) co_return false;
  co_await asio::async_write(stream, bhttp::make_chunk_last(),
                             asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec && !stopped_ && res.keep_alive();
}

}  // namespace reachprobe::http
