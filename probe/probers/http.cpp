#include "probe/probers/http.hpp"

#include <fmt/format.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "probe/core/duration_text.hpp"
#include "probe/core/endpoint.hpp"
#include "probe/probers/connect.hpp"
#include "reachprobe/version.hpp"

namespace reachprobe {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;

namespace {

// As curl and Go's client: enough for any sane chain, few enough to stop a loop.
constexpr int kMaxRedirects = 5;

Duration since(Clock::time_point start) {
  return std::chrono::duration_cast<Duration>(Clock::now() - start);
}

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

  http::response_parser<http::string_body> parser;
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

struct HttpProber::Request {
  Url url;
  http::request<http::empty_body> message;
  TlsOptions tls;
};

HttpProber::HttpProber(std::shared_ptr<dns::Resolver> resolver) : resolver_(std::move(resolver)) {}

asio::awaitable<std::optional<HttpResponseSummary>> HttpProber::exchange(const Request& request,
                                                                         Deadline deadline,
                                                                         ProbeResult& result) {
  // Chosen before connecting: a ca_file that cannot be loaded is no network failure.
  std::shared_ptr<asio::ssl::context> context;
  if (request.url.https) {
    auto found = contexts_.get(request.tls);
    if (auto* problem = std::get_if<std::string>(&found)) {
      result.outcome = Outcome::Error;
      result.message = *problem;
      co_return std::nullopt;
    }
    context = std::get<std::shared_ptr<asio::ssl::context>>(found);
  }
  auto socket = co_await resolve_and_connect(*resolver_, request.url.host, request.url.port,
                                             deadline, result);
  if (!socket) co_return std::nullopt;
  const std::string where = join_host_port(result.address, request.url.port);
  std::optional<HttpResponseSummary> response;
  boost::system::error_code ignored;
  if (!context) {
    response = co_await converse(*socket, *socket, request.message, where, deadline, result);
    socket->shutdown(tcp::socket::shutdown_both, ignored);
    socket->close(ignored);
    co_return response;
  }
  const auto peer = tls_peer_for(request.tls, request.url.host, where);
  auto stream = co_await tls_handshake(std::move(*socket), *context, peer, deadline, result);
  if (!stream) co_return std::nullopt;
  response =
      co_await converse(*stream, stream->next_layer(), request.message, where, deadline, result);
  stream->lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
  stream->lowest_layer().close(ignored);
  co_return response;
}

asio::awaitable<ProbeResult> HttpProber::probe(const Endpoint& endpoint, Deadline deadline) {
  const auto start = Clock::now();
  const Target& target = *endpoint.target;
  ProbeResult result;
  auto finish = [&] {
    result.set_phase(Phase::Total, since(start));
    return std::move(result);
  };

  auto parsed = parse_url(target.url);
  if (auto* problem = std::get_if<std::string>(&parsed)) {
    result.outcome = Outcome::Error;
    result.message = *problem;
    co_return finish();
  }
  Request request;
  request.url = std::get<Url>(parsed);
  request.tls = target.tls.value_or(TlsOptions{});
  std::string token;
  if (!target.bearer_token_file.empty()) {
    auto read = tokens_.read(target.bearer_token_file);
    if (!read.problem.empty()) {
      result.outcome = Outcome::Error;
      result.message = read.problem;
      co_return finish();
    }
    token = std::move(read.token);
  }

  std::string current_url = target.url;
  for (int hop = 0;; ++hop) {
    auto& message = request.message;
    message = {};
    message.method(target.method == "HEAD" ? http::verb::head : http::verb::get);
    message.target(request.url.target);
    message.version(11);
    message.set(http::field::host, request.url.authority());
    message.set(http::field::user_agent, fmt::format("reachprobe/{}", kVersion));
    message.set(http::field::accept, "*/*");
    message.set(http::field::connection, "close");
    if (!token.empty()) message.set(http::field::authorization, "Bearer " + token);
    for (const auto& [name, value] : target.headers) message.set(name, value);

    // Each hop's phases are its own; the total covers them all.
    result.phases = {};
    auto response = co_await exchange(request, deadline, result);
    if (!response) co_return finish();
    result.http_status = response->status;

    const bool redirect = is_redirect_status(response->status) && !response->location.empty();
    if (redirect && target.follow_redirects &&
        !status_expected(response->status, target.expect_status)) {
      if (hop == kMaxRedirects) {
        result.outcome = Outcome::Error;
        result.message = fmt::format("more than {} redirects, the last to {}", kMaxRedirects,
                                     body_excerpt(response->location, kBodyExcerptBytes));
        co_return finish();
      }
      auto next = resolve_location(request.url, response->location);
      if (auto* problem = std::get_if<std::string>(&next)) {
        result.outcome = Outcome::Error;
        result.message = fmt::format("{} redirects to an unusable location: {}", current_url,
                                     body_excerpt(*problem, kBodyExcerptBytes));
        co_return finish();
      }
      // A token goes only where it was meant to go, as Go's client and curl do.
      if (std::get<Url>(next).host != request.url.host) token.clear();
      request.url = std::get<Url>(next);
      current_url = fmt::format("{}://{}{}", request.url.https ? "https" : "http",
                                request.url.authority(), request.url.target);
      continue;
    }
    result.outcome =
        status_expected(response->status, target.expect_status) ? Outcome::Ok : Outcome::BadStatus;
    result.message = describe_response(*response, current_url, target.expect_status,
                                       redirect && !target.follow_redirects);
    co_return finish();
  }
}

}  // namespace reachprobe
