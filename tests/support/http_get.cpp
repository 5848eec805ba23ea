#include "tests/support/http_get.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>

namespace reachprobe::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

HttpResponse http_request(const std::string& host, std::uint16_t port, const std::string& method,
                          const std::string& target, std::chrono::milliseconds limit) {
  HttpResponse out;
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(limit);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::request<http::empty_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host);
  req.set(http::field::connection, "close");

  auto fail = [&](const char* what, const beast::error_code& ec) {
    out.error = std::string(what) + ": " + ec.message();
  };
  stream.async_connect(
      asio::ip::tcp::endpoint(asio::ip::make_address(host), port), [&](beast::error_code ec) {
        if (ec) return fail("connect", ec);
        http::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
          if (ec) return fail("write", ec);
          // A HEAD response has headers only.
          if (method == "HEAD") {
            auto parser = std::make_shared<http::response_parser<http::string_body>>();
            parser->skip(true);
            http::async_read(stream, buffer, *parser,
                             [&, parser](beast::error_code ec, std::size_t) {
                               if (ec) return fail("read", ec);
                               res = parser->release();
                             });
            return;
          }
          http::async_read(stream, buffer, res, [&](beast::error_code ec, std::size_t) {
            if (ec) return fail("read", ec);
          });
        });
      });
  io.run();
  if (!out.error.empty()) return out;
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  return out;
}

}  // namespace reachprobe::test
