#include "probe/core/url.hpp"

#include <algorithm>
#include <charconv>
#include <initializer_list>

namespace reachprobe {

namespace {

// Appends instead of `"literal" + std::string(...)`: at -O3 GCC 12 inlines that operator+ into
// a memcpy it wrongly believes overlaps (-Wrestrict, the false positive of GCC bug 105329),
// which fails a Release build with -Werror.
std::string joined(std::initializer_list<std::string_view> parts) {
  std::size_t size = 0;
  for (std::string_view part : parts) size += part.size();
  std::string out;
  out.reserve(size);
  for (std::string_view part : parts) out.append(part);
  return out;
}

std::string quoted(std::string_view text) { return joined({"'", text, "'"}); }

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
         });
}

bool parse_port(std::string_view text, std::uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > 65535) {
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

std::string Url::authority() const {
  std::string out = host.find(':') != std::string::npos ? joined({"[", host, "]"}) : host;
  if (!default_port()) {
    out += ':';
    out += std::to_string(port);
  }
  return out;
}

std::variant<Url, std::string> parse_url(std::string_view text) {
  const std::string problem_prefix = "URL " + quoted(text);
  Url url;
  std::size_t authority_start = 0;
  if (starts_with_ci(text, "https://")) {
    url.https = true;
    authority_start = 8;
  } else if (starts_with_ci(text, "http://")) {
    authority_start = 7;
  } else {
    return problem_prefix + " must start with http:// or https://";
  }
  if (text.find_first_of(" \t\r\n") != std::string_view::npos ||
      text.find('\0') != std::string_view::npos) {
    return problem_prefix + " contains whitespace";
  }
  url.port = url.https ? 443 : 80;
  const std::size_t authority_end =
      std::min(text.find_first_of("/?#", authority_start), text.size());
  const std::string_view authority = text.substr(authority_start, authority_end - authority_start);
  if (authority.find('@') != std::string_view::npos) {
    return problem_prefix + " must not contain credentials; use headers or bearer_token_file";
  }
  std::string_view port;
  bool has_port = false;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return problem_prefix + " has an unclosed '['";
    url.host = std::string(authority.substr(1, close - 1));
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (!rest.starts_with(':')) return problem_prefix + " has an invalid host";
      port = rest.substr(1);
      has_port = true;
    }
    if (url.host.find(':') == std::string::npos) {
      return problem_prefix + " has an invalid IPv6 address";
    }
  } else {
    const std::size_t colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      has_port = true;
    }
  }
  if (has_port && !parse_port(port, url.port)) return problem_prefix + " has an invalid port";
  if (url.host.empty()) return problem_prefix + " has no host";

  // The fragment stays with the client; everything from the path to it is the target.
  std::string_view rest = text.substr(authority_end);
  rest = rest.substr(0, rest.find('#'));
  if (rest.empty()) {
    url.target.assign(1, '/');  // not `= "/"`: GCC 12's false -Wrestrict (bug 105329) at -O3
  } else if (rest.starts_with('?')) {
    url.target = joined({"/", rest});
  } else {
    url.target = std::string(rest);
  }
  return url;
}

std::variant<Url, std::string> resolve_location(const Url& base, std::string_view location) {
  if (starts_with_ci(location, "http://") || starts_with_ci(location, "https://")) {
    return parse_url(location);
  }
  if (location.starts_with("//")) {
    return parse_url(std::string(base.https ? "https:" : "http:") + std::string(location));
  }
  if (location.empty() || location.find_first_of(" \t\r\n") != std::string_view::npos) {
    return "redirect to an invalid Location " + quoted(location);
  }
  Url next = base;
  if (location.starts_with('/')) {
    next.target = std::string(location);
  } else {
    // Relative to the directory of the current path, without its query.
    std::string directory = base.target.substr(0, base.target.find('?'));
    directory = directory.substr(0, directory.rfind('/') + 1);
    next.target = directory + std::string(location);
  }
  next.target = next.target.substr(0, next.target.find('#'));
  return next;
}

}  // namespace reachprobe
