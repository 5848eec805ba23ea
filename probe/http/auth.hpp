#pragma once

#include <list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "probe/core/token_file.hpp"
#include "probe/http/web_config.hpp"

namespace reachprobe::http {

// Checks the Authorization header of a request for /metrics against the web config's
// users (bcrypt) and scrape token. bcrypt is slow on purpose (tens of ms at cost 10), so a
// verified user:password is remembered (a digest, not the password) and a scraper that
// sends the same header every 15 s pays once; verification itself runs off the event loop.
class Authenticator {
 public:
  explicit Authenticator(const WebConfig& config);

  enum class Verdict { Allowed, Denied, NeedsBcrypt };
  // Fast path, no bcrypt: allowed by a token or a remembered password, denied outright, or
  // a password that must be verified with verify_password() first.
  Verdict check(std::string_view authorization);
  // The slow path (thread-safe, no shared state): whether `authorization` holds a user and
  // password matching a configured hash.
  bool verify_password(std::string_view authorization) const;
  // Remembers a header verify_password() accepted.
  void remember(std::string_view authorization);

 private:
  std::map<std::string, std::string> users_;
  std::string token_file_;
  TokenFiles tokens_;
  std::list<std::string> accepted_;  // digests of accepted headers, most recent first
};

// "Basic base64(user:password)" -> user, password; nullopt if it is not that.
std::optional<std::pair<std::string, std::string>> parse_basic_credentials(
    std::string_view authorization);

}  // namespace reachprobe::http
