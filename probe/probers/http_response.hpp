#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/optional.hpp>
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

// A response body as a string, read as it arrives. Not Beast's string_body: that reserves
// the Content-Length the server announces before reading a byte, and a server that says
// 8643332055420924359 (the fuzzer's find) gets an allocation of that size. The parser's
// body limit bounds what is appended.
struct ResponseBody {
  using value_type = std::string;

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body) {}
    void init(const boost::optional<std::uint64_t>&, boost::beast::error_code& ec) { ec = {}; }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::beast::error_code& ec) {
      std::size_t n = 0;
      for (const auto b : boost::beast::buffers_range_ref(buffers)) {
        body_.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      ec = {};
      return n;
    }
    void finish(boost::beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

using HttpResponseParser = boost::beast::http::response_parser<ResponseBody>;
using HttpResponseMessage = boost::beast::http::response<ResponseBody>;

// The limits every response is parsed under; `head`: no body follows (a HEAD request).
void limit_response_parser(HttpResponseParser& parser, bool head);

HttpResponseSummary summarize_response(const HttpResponseMessage& response);

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
