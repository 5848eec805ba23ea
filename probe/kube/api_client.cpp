#include "probe/kube/api_client.hpp"

#include <fmt/format.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <limits>
#include <vector>

#include "probe/core/duration_text.hpp"
#include "probe/core/endpoint.hpp"
#include "probe/core/url.hpp"
#include "probe/probers/connect.hpp"
#include "probe/probers/http_client.hpp"

namespace reachprobe::kube {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;

namespace {

constexpr std::size_t kErrorBodyLimit = 64 * 1024;
constexpr std::size_t kReadPiece = 64 * 1024;

// Clears the cancellation hook when the exchange ends, however it ends.
struct HookReset {
  std::function<void()>& hook;
  ~HookReset() { hook = nullptr; }
};

bool closed(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == http::error::end_of_stream ||
         ec == http::error::partial_message || ec == asio::error::connection_reset ||
         ec == asio::ssl::error::stream_truncated;
}

}  // namespace

std::string_view to_string(ErrorReason reason) {
  switch (reason) {
    case ErrorReason::Connect:
      return "connect";
    case ErrorReason::Unauthorized:
      return "unauthorized";
    case ErrorReason::Forbidden:
      return "forbidden";
    case ErrorReason::NotFound:
      return "not_found";
    case ErrorReason::Http:
      return "http";
    case ErrorReason::Gone:
      return "gone";
    case ErrorReason::Malformed:
      return "malformed";
    case ErrorReason::TooLarge:
      return "too_large";
    case ErrorReason::Stream:
      return "stream";
  }
  return "http";
}

ApiClient::ApiClient(std::shared_ptr<dns::Resolver> resolver, KubernetesApi api)
    : resolver_(std::move(resolver)), api_(std::move(api)) {}

template <typename Stream>
asio::awaitable<ApiResponse> ApiClient::converse(
    Stream& stream, tcp::socket& socket, const std::string& path, const std::string& token,
    const ExchangeLimits& limits, const std::function<bool(std::string_view)>& on_body,
    Cancellation& cancellation) {
  ApiResponse response;
  auto executor = co_await asio::this_coro::executor;
  const Deadline end_of_life = Deadline::after(limits.lifetime);
  auto cancel_socket = [&socket] {
    boost::system::error_code ignored;
    socket.cancel(ignored);
  };
  cancellation.on_cancel_ = cancel_socket;
  HookReset reset{cancellation.on_cancel_};

  auto url = std::get<Url>(parse_url(api_.api_server));
  url.target = path;
  const auto request = make_request(http::verb::get, url, token, {{"Accept", "application/json"}});
  boost::beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.header_limit(kErrorBodyLimit);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  boost::system::error_code ec;
  {
    const Deadline header_by{std::min(Clock::now() + limits.connect_timeout, end_of_life.at)};
    ExpiryGuard guard(executor, header_by, cancel_socket);
    co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
      co_await http::async_read_header(stream, buffer, parser,
                                       asio::redirect_error(asio::use_awaitable, ec));
    }
    if (cancellation.cancelled()) {
      response.cancelled = true;
      co_return response;
    }
    if (ec || guard.fired()) {
      response.failure = ApiFailure{
          ErrorReason::Connect,
          guard.fired()
              ? fmt::format("no response header from {} within {}", url.authority(),
                            format_latency(limits.connect_timeout))
              : fmt::format("reading the response of {}: {}", url.authority(), ec.message())};
      co_return response;
    }
  }
  response.status = static_cast<int>(parser.get().result_int());
  const bool success = response.status >= 200 && response.status < 300;
  std::vector<char> piece(kReadPiece);
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    const Duration idle = limits.idle_timeout ? limits.idle_timeout() : limits.connect_timeout;
    const Deadline read_by{std::min(Clock::now() + idle, end_of_life.at)};
    bool fired = false;
    {
      ExpiryGuard guard(executor, read_by, cancel_socket);
      co_await http::async_read_some(stream, buffer, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
      fired = guard.fired();
    }
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = piece.size() - parser.get().body().size;
    if (got > 0) {
      if (success) {
        if (!on_body(std::string_view(piece.data(), got))) co_return response;
      } else if (response.error_body.size() < kErrorBodyLimit) {
        response.error_body.append(piece.data(),
                                   std::min(got, kErrorBodyLimit - response.error_body.size()));
      }
    }
    if (cancellation.cancelled()) {
      response.cancelled = true;
      co_return response;
    }
    if (fired) {
      if (end_of_life.passed()) {
        response.ended_by_lifetime = true;
      } else {
        response.failure =
            ApiFailure{ErrorReason::Stream,
                       fmt::format("the API server sent nothing for {} in the middle of a body",
                                   format_latency(idle))};
      }
      co_return response;
    }
    if (ec) {
      // The error body of a failed request is best effort; its status already tells.
      if (!success) co_return response;
      response.failure =
          ApiFailure{ErrorReason::Stream,
                     closed(ec) ? "the API server closed the connection before the end of the body"
                                : "reading the body: " + ec.message()};
      co_return response;
    }
  }
  co_return response;
}

asio::awaitable<ApiResponse> ApiClient::get(std::string path, ExchangeLimits limits,
                                            std::function<bool(std::string_view)> on_body,
                                            std::shared_ptr<Cancellation> cancellation) {
  ApiResponse response;
  auto base = parse_url(api_.api_server);
  if (auto* problem = std::get_if<std::string>(&base)) {
    response.failure = ApiFailure{ErrorReason::Connect, "kubernetes.api_server: " + *problem};
    co_return response;
  }
  const Url url = std::get<Url>(base);
  auto token = tokens_.read(api_.token_file);
  if (!token.problem.empty()) {
    response.failure =
        ApiFailure{ErrorReason::Unauthorized,
                   token.problem + " (kubernetes.token_file: the pod's service-account token)"};
    co_return response;
  }
  std::shared_ptr<asio::ssl::context> context;
  if (url.https) {
    const TlsOptions tls{"", api_.ca_file, false};
    auto found = contexts_.get(tls);
    if (auto* problem = std::get_if<std::string>(&found)) {
      response.failure = ApiFailure{ErrorReason::Connect, *problem};
      co_return response;
    }
    context = std::get<std::shared_ptr<asio::ssl::context>>(found);
  }
  ProbeResult steps;
  const Deadline connect_by = Deadline::after(limits.connect_timeout);
  auto socket = co_await resolve_and_connect(*resolver_, url.host, url.port, connect_by, steps);
  if (cancellation->cancelled()) {
    response.cancelled = true;
    co_return response;
  }
  if (!socket) {
    response.failure = ApiFailure{
        ErrorReason::Connect,
        fmt::format("{} ({}): {}", url.authority(), to_string(steps.outcome), steps.message)};
    co_return response;
  }
  if (!context) {
    response =
        co_await converse(*socket, *socket, path, token.token, limits, on_body, *cancellation);
    boost::system::error_code ignored;
    socket->close(ignored);
    co_return response;
  }
  const std::string where = join_host_port(steps.address, url.port);
  // Named locals, not temporaries in the co_await: GCC 12 destroys such temporaries twice.
  const TlsOptions tls{"", api_.ca_file, false};
  const TlsPeer peer = tls_peer_for(tls, url.host, where);
  auto stream = co_await tls_handshake(std::move(*socket), *context, peer, connect_by, steps);
  if (cancellation->cancelled()) {
    response.cancelled = true;
    co_return response;
  }
  if (!stream) {
    response.failure = ApiFailure{
        ErrorReason::Connect,
        fmt::format("{} ({}): {}", url.authority(), to_string(steps.outcome), steps.message)};
    co_return response;
  }
  response = co_await converse(*stream, stream->next_layer(), path, token.token, limits, on_body,
                               *cancellation);
  boost::system::error_code ignored;
  stream->next_layer().close(ignored);
  co_return response;
}

}  // namespace reachprobe::kube
