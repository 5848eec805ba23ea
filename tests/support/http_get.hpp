#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace reachprobe::test {

struct HttpResponse {
  int status = 0;  // 0: no response (connect failed, timed out)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string error;
};

// A blocking HTTP/1.1 request to a loopback server, bounded by `limit`.
HttpResponse http_request(const std::string& host, std::uint16_t port, const std::string& method,
                          const std::string& target,
                          std::chrono::milliseconds limit = std::chrono::seconds(5));

inline HttpResponse http_get(const std::string& host, std::uint16_t port, const std::string& target,
                             std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  return http_request(host, port, "GET", target, limit);
}

}  // namespace reachprobe::test
