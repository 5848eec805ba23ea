#pragma once

#include <boost/beast/http/verb.hpp>
#include <cstddef>
#include <string_view>

namespace reachprobe::http {

enum class Route { Metrics, Healthz, Readyz, Index, NotFound, MethodNotAllowed };

// Where a request goes: by path (the query string ignored), then by method (GET and HEAD).
Route route(boost::beast::http::verb method, std::string_view target);

// What the server makes of raw request bytes with its limits, without a socket: the HTTP
// status of its answer (400 bad request, 431 header too large, 404, 405, 200) or 0 if the
// bytes are not yet a whole request. The fuzz target drives the server's parsing with it.
int status_for_request_bytes(std::string_view bytes, std::size_t max_header_bytes);

}  // namespace reachprobe::http
