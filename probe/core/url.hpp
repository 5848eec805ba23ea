#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace reachprobe {

// An http(s) URL as the http prober needs it. The config loader and the prober share this
// one parser, so what validates is exactly what gets requested.
struct Url {
  bool https = false;
  std::string host;  // a name or an IP literal; IPv6 without brackets
  std::uint16_t port = 0;
  std::string target = "/";  // path and query, as sent in the request line; never empty

  bool default_port() const { return port == (https ? 443 : 80); }
  // The Host header: host, bracketed if IPv6, with the port unless it is the default.
  std::string authority() const;
};

// http(s)://HOST[:PORT][/path][?query][#fragment]. Checks structure (scheme, brackets, port,
// no credentials, no whitespace), not whether HOST is a valid name: callers that accept
// user input check that themselves. On failure, a message naming the URL.
std::variant<Url, std::string> parse_url(std::string_view text);

// Resolves a redirect's Location against the URL it came from: absolute, scheme-relative
// ("//host/path") or a path ("/path" or "relative").
std::variant<Url, std::string> resolve_location(const Url& base, std::string_view location);

}  // namespace reachprobe
