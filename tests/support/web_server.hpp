#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_pki.hpp"

namespace reachprobe::test {

// How the server answers one path.
struct WebReply {
  int status = 200;
  std::string body = "ok\n";
  std::chrono::milliseconds delay{0};  // before the first response byte
  std::vector<std::pair<std::string, std::string>> headers;
};

// One request as received.
struct WebRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lower-case names
};

// Where a TestWebServer listens: an address, in a network namespace (`ip netns` name) or
// in the test's own.
struct WebServerPlace {
  std::string address = "127.0.0.1";
  std::string netns;
};

// An HTTP/1.1 server (HTTPS when given a certificate), on a thread of its own, stopped and
// joined by the destructor. One request per connection. Paths without a reply get 200
// "ok". All members are thread-safe.
class TestWebServer {
 public:
  explicit TestWebServer(std::optional<TestCertificate> certificate = std::nullopt,
                         WebServerPlace place = {});
  ~TestWebServer();
  TestWebServer(const TestWebServer&) = delete;
  TestWebServer& operator=(const TestWebServer&) = delete;

  std::uint16_t port() const { return port_; }
  void set_reply(const std::string& target, WebReply reply);
  std::vector<WebRequest> requests() const;
  int completed_handshakes() const;
  int accepted_connections() const;

 private:
  struct Server;
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace reachprobe::test
