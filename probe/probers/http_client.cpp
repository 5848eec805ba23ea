#include "probe/probers/http_client.hpp"

#include <fmt/format.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "probe/core/duration_text.hpp"
#include "probe/core/endpoint.hpp"
#include "probe/probers/connect.hpp"
#include "probe/probers/tls_connect.hpp"
#include "reachprobe/version.hpp"

namespace reachprobe {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;

namespace {

// The request/response exchange on a connected stream (plain or TLS), bounded by the
// deadline through `cancel`, which aborts whatever step is pending.
template <typename Stream>
asio::awaitable<std::optional<HttpResponseSummary>> converse(
    Stream& stream, tcp::socket& socket, const http::request<http::empty_body>& request,
    const std::string& where, Deadline deadline, ProbeResult& result) {
  auto executor = co_await asio::this_coro::executor;
  ExpiryGuard guard(executor, deadline, [&socket] {
    boost::system::error_code ignored;
    socket.cancel(ignored);
  });
  auto failed = [&](const boost::system::error_code& ec, std::string_view step, Duration waited) {
    if (guard.fired()) {
      result.outcome = Outcome::Timeout;
      result.message = fmt::format(
          "{} {} stalled: no progress within {} (the server accepted the connection but does "
          "not answer: overloaded, hung, or a middlebox holds the data)",
          step, where, format_latency(waited));
    } else if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe) {
      result.outcome = Outcome::Reset;
      result.message = fmt::format("{} {}: connection reset by the server", step, where);
    } else if (ec == asio::error::eof || ec == http::error::end_of_stream ||
               ec == http::error::partial_message) {
      result.outcome = Outcome::Error;
      result.message = fmt::format(
          "{} {}: the server closed the connection without a complete response", step, where);
    } else {
      result.outcome = Outcome::Error;
      result.message = fmt::format("{} {}: {}", step, where, ec.message());
    }
  };

  boost::system::error_code ec;
  // first_byte counts from the start of the request, as curl's time_starttransfer does: a
  // clock started once the write completes could start after the server already answered.
  const auto step_start = Clock::now();
  co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec || guard.fired()) {
    failed(ec, "sending the request to", since(step_start));
    co_return std::nullopt;
  }

  // The first byte is awaited on its own: reading the header with the parser would hide
  // when the answer started, and a TLS session ticket is no answer (the TLS layer consumes it).
  boost::beast::flat_buffer buffer(kResponseHeaderLimit + kResponseBodyLimit);
  const std::size_t got = co_await stream.async_read_some(
      buffer.prepare(4096), asio::redirect_error(asio::use_awaitable, ec));
  result.set_phase(Phase::FirstByte, since(step_start));
  if (ec || guard.fired()) {
    failed(ec, "waiting for the response from", since(step_start));
    co_return std::nullopt;
  }
  buffer.commit(got);

  HttpResponseParser parser;
  limit_response_parser(parser, request.method() == http::verb::head);
  co_await http::async_read_header(stream, buffer, parser,
                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec || guard.fired()) {
    if (!guard.fired() && ec != asio::error::connection_reset && ec != asio::error::eof &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      result.outcome = Outcome::Error;
      result.message = fmt::format("invalid HTTP response from {}: {}", where, ec.message());
    } else {
      failed(ec, "reading the response header from", since(step_start));
    }
    co_return std::nullopt;
  }
  // The body is best effort: its first bytes explain a bad status, and the status decides.
  if (!parser.is_done()) {
    co_await http::async_read(stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
  }
  HttpResponseSummary summary = summarize_response(parser.get());
  co_return summary;
}

}  // namespace

HttpRequest make_request(http::verb method, const Url& url, const std::string& token,
                         const std::vector<std::pair<std::string, std::string>>& headers) {
  HttpRequest message;
  message.method(method);
  message.target(url.target);
  message.version(11);
  message.set(http::field::host, url.authority());
  message.set(http::field::user_agent, fmt::format("reachprobe/{}", kVersion));
  message.set(http::field::accept, "*/*");
  message.set(http::field::connection, "close");
  if (!token.empty()) message.set(http::field::authorization, "Bearer " + token);
  for (const auto& [name, value] : headers) message.set(name, value);
  return message;
}

asio::awaitable<std::optional<HttpResponseSummary>> HttpClient::exchange(
    const Url& url, const http::request<http::empty_body>& message, const TlsOptions& tls,
    Deadline deadline, ProbeResult& result) {
  // Chosen before connecting: a ca_file that cannot be loaded is no network failure.
  std::shared_ptr<asio::ssl::context> context;
  if (url.https) {
    auto found = contexts_.get(tls);
    if (auto* problem = std::get_if<std::string>(&found)) {
      result.outcome = Outcome::Error;
      result.message = *problem;
      co_return std::nullopt;
    }
    context = std::get<std::shared_ptr<asio::ssl::context>>(found);
  }
  auto peer = co_await resolve_peer(*resolver_, url.host, url.port, deadline, result);
  if (!peer) co_return std::nullopt;
  std::optional<HttpResponseSummary> response;
  boost::system::error_code ignored;
  if (!context) {
    auto socket = co_await connect_to(*peer, deadline, result);
    if (!socket) co_return std::nullopt;
    const std::string where = join_host_port(result.address, url.port);
    response = co_await converse(*socket, *socket, message, where, deadline, result);
    socket->shutdown(tcp::socket::shutdown_both, ignored);
    socket->close(ignored);
    co_return response;
  }
  // The same handshake as a tls probe's, with its test for a path-MTU black hole.
  auto stream = co_await connect_and_handshake(*peer, *context, tls, url.host, deadline, result);
  if (!stream) co_return std::nullopt;
  const std::string where = join_host_port(result.address, url.port);
  response = co_await converse(*stream, stream->next_layer(), message, where, deadline, result);
  stream->lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
  stream->lowest_layer().close(ignored);
  co_return response;
}

}  // namespace reachprobe
