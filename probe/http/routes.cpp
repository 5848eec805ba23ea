#include "probe/http/routes.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

namespace reachprobe::http {

namespace bhttp = boost::beast::http;

Route route(bhttp::verb method, std::string_view target) {
  auto q = target.find('?');
  const auto path = q == std::string_view::npos ? target : target.substr(0, q);
  Route r = Route::NotFound;
  if (path == "/metrics") {
    r = Route::Metrics;
  } else if (path == "/healthz") {
    r = Route::Healthz;
  } else if (path == "/readyz") {
    r = Route::Readyz;
  } else if (path == "/") {
    r = Route::Index;
  }
  if (r != Route::NotFound && method != bhttp::verb::get && method != bhttp::verb::head) {
    return Route::MethodNotAllowed;
  }
  return r;
}

int status_for_request_bytes(std::string_view bytes, std::size_t max_header_bytes) {
  bhttp::request_parser<bhttp::empty_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(max_header_bytes));
  parser.eager(true);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec == bhttp::error::need_more) return 0;
  if (ec == bhttp::error::header_limit) return 431;
  if (ec) return 400;
  if (!parser.is_done()) return 0;
  const auto& req = parser.get();
  switch (route(req.method(), std::string_view(req.target().data(), req.target().size()))) {
    case Route::NotFound:
      return 404;
    case Route::MethodNotAllowed:
      return 405;
    default:
      return 200;
  }
}

}  // namespace reachprobe::http
