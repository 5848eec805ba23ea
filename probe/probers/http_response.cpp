#include "probe/probers/http_response.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/beast/http/error.hpp>

namespace reachprobe {

namespace http = boost::beast::http;

namespace {

std::string status_list(const std::vector<int>& expect_status) {
  if (expect_status.empty()) return "2xx";
  std::string out;
  for (int s : expect_status) out += (out.empty() ? "" : ", ") + std::to_string(s);
  return out;
}

}  // namespace

void limit_response_parser(HttpResponseParser& parser, bool head) {
  parser.header_limit(kResponseHeaderLimit);
  parser.body_limit(kResponseBodyLimit);
  parser.skip(head);
}

HttpResponseSummary summarize_response(const HttpResponseMessage& response) {
  HttpResponseSummary summary;
  summary.status = static_cast<int>(response.result_int());
  const auto reason = response.reason();
  summary.reason = body_excerpt(std::string_view(reason.data(), reason.size()), kBodyExcerptBytes);
  if (auto location = response.find(http::field::location); location != response.end()) {
    summary.location = std::string(location->value());
  }
  summary.body_excerpt = body_excerpt(response.body(), kBodyExcerptBytes);
  summary.body = response.body().substr(0, kResponseBodyLimit);
  return summary;
}

std::variant<HttpResponseSummary, std::string> parse_http_response(std::string_view bytes,
                                                                   bool head) {
  // Beast's parser calls an end of stream before the first byte a complete message.
  if (bytes.empty()) return "no response";
  HttpResponseParser parser;
  limit_response_parser(parser, head);
  parser.eager(true);
  boost::system::error_code ec;
  while (!bytes.empty() && !parser.is_done()) {
    const std::size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    if (ec == http::error::need_more) break;
    if (ec == http::error::body_limit && parser.is_header_done()) break;
    if (ec) return ec.message();
    if (used == 0) break;
    bytes.remove_prefix(used);
  }
  if (!parser.is_done()) {
    // Bytes that end where the connection would close: a body delimited by the close.
    parser.put_eof(ec);
    if (ec && !parser.is_header_done()) return ec.message();
  }
  if (!parser.is_header_done()) return "incomplete response header";
  return summarize_response(parser.get());
}

bool is_redirect_status(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool status_expected(int status, const std::vector<int>& expect_status) {
  if (expect_status.empty()) return status >= 200 && status <= 299;
  return std::find(expect_status.begin(), expect_status.end(), status) != expect_status.end();
}

std::string body_excerpt(std::string_view body, std::size_t limit) {
  std::string out;
  bool space = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const auto c = static_cast<unsigned char>(body[i]);
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = !out.empty();
      continue;
    }
    std::string piece = space ? " " : "";
    if (c >= 0x20 && c < 0x7f) {
      piece += static_cast<char>(c);
    } else {
      // A UTF-8 sequence is kept whole when it is valid; any other byte is shown as '?'.
      const std::size_t length = (c & 0xE0) == 0xC0   ? 2
                                 : (c & 0xF0) == 0xE0 ? 3
                                 : (c & 0xF8) == 0xF0 ? 4
                                                      : 0;
      bool valid = length > 0 && c >= 0xC2 && c <= 0xF4 && i + length <= body.size();
      for (std::size_t k = 1; valid && k < length; ++k) {
        valid = (static_cast<unsigned char>(body[i + k]) & 0xC0) == 0x80;
      }
      if (valid) {
        piece.append(body.substr(i, length));
        i += length - 1;
      } else {
        piece += '?';
      }
    }
    // Never more than `limit` bytes, and never half a character: the rest is "...".
    if (out.size() + piece.size() > limit) return out + "...";
    out += piece;
    space = false;
  }
  return out;
}

std::string describe_response(const HttpResponseSummary& response, const std::string& url,
                              const std::vector<int>& expect_status, bool redirect_not_followed) {
  std::string text = fmt::format("HTTP {} {}", response.status, response.reason);
  if (status_expected(response.status, expect_status)) return text;
  text += fmt::format(" from {}, expected {}", url, status_list(expect_status));
  if (redirect_not_followed && !response.location.empty()) {
    text += fmt::format(": a redirect to {} (follow_redirects: true follows it)",
                        body_excerpt(response.location, kBodyExcerptBytes));
  } else if (!response.body_excerpt.empty()) {
    text += ": " + response.body_excerpt;
  }
  return text;
}

}  // namespace reachprobe
