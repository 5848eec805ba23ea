#pragma once

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace reachprobe {

// Enough of a body to explain a failure (an API server's Status, an error page); the rest
// is not read. Headers beyond the limit are not a server worth waiting for.
inline constexpr std::size_t kResponseBodyLimit = std::size_t{64} * 1024;
inline constexpr std::uint32_t kResponseHeaderLimit = 64 * 1024;
inline constexpr std::size_t kBodyExcerptBytes = 200;

// What the http prober keeps of a response: enough to judge it and to explain a failure.
struct HttpResponseSummary {
  int status = 0;
  std::string reason;
  std::string location;      // of a redirect
  std::string body_excerpt;  // the first bytes of the body, printable, one line
  std::string body;          // as received, up to kResponseBodyLimit
};

// The limits every response is parsed under; `head`: no body follows (a HEAD request).
void limit_response_parser(
    boost::beast::http::response_parser<boost::beast::http::string_body>& parser, bool head);

HttpResponseSummary summarize_response(
    const boost::beast::http::response<boost::beast::http::string_body>& response);

// A whole response from bytes, under the same limits: what the prober reads from a stream,
// for tests and the fuzzer. A body cut by the limit is no error (the prober stops there too).
std::variant<HttpResponseSummary, std::string> parse_http_response(std::string_view bytes,
                                                                   bool head);

bool is_redirect_status(int status);

// Whether `status` is what the target expects: `expect_status`, or any 2xx without one.
bool status_expected(int status, const std::vector<int>& expect_status);

// The probe's message for a response, e.g. "HTTP 503 Service Unavailable from URL, expected
// 2xx: {...}"; ok responses get "HTTP 200 OK".
std::string describe_response(const HttpResponseSummary& response, const std::string& url,
                              const std::vector<int>& expect_status, bool redirect_not_followed);

// Up to `limit` bytes of `body` as one printable line: control bytes and invalid UTF-8
// become '?', runs of whitespace one space. Bodies come from the network: anything goes in.
std::string body_excerpt(std::string_view body, std::size_t limit);

}  // namespace reachprobe
