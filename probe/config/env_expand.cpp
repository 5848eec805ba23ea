#include "probe/config/env_expand.hpp"

namespace reachprobe::config {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

ExpandResult failure(std::string message, std::size_t offset) {
  ExpandResult result;
  result.error = std::move(message);
  result.error_offset = offset;
  return result;
}

}  // namespace

ExpandResult expand_env(std::string_view text, const EnvLookup& env) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '$') {
      out += text[i++];
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      out += '$';
      i += 2;
      continue;
    }
    // A lone `$` (a password, a regex) stays literal: only `${` starts a reference.
    if (i + 1 >= text.size() || text[i + 1] != '{') {
      out += text[i++];
      continue;
    }
    const std::size_t start = i;
    const std::size_t close = text.find('}', start + 2);
    if (close == std::string_view::npos) {
      return failure("'${' without a closing '}'", start);
    }
    const std::string_view inner = text.substr(start + 2, close - start - 2);
    const std::string_view reference = text.substr(start, close - start + 1);
    std::size_t name_end = 0;
    while (name_end < inner.size() && is_name_char(inner[name_end])) ++name_end;
    const std::string_view name = inner.substr(0, name_end);
    if (name.empty()) {
      return failure("'" + std::string(reference) +
                         "' has no variable name; write ${NAME} or ${NAME:-default}",
                     start);
    }
    if (name.front() >= '0' && name.front() <= '9') {
      return failure("invalid variable name '" + std::string(name) + "' in '" +
                         std::string(reference) + "': it must not start with a digit",
                     start);
    }
    const std::string_view rest = inner.substr(name_end);
    std::optional<std::string> value = env(name);
    if (rest.empty()) {
      if (!value) {
        return failure("environment variable " + std::string(name) + " is not set (write ${" +
                           std::string(name) + ":-default} for a default)",
                       start);
      }
      out += *value;
    } else if (rest.starts_with(":-")) {
      const std::string_view fallback = rest.substr(2);
      if (fallback.find("${") != std::string_view::npos) {
        return failure("a default in '${...}' cannot contain another '${'", start);
      }
      // Like the shell's `:-`: an empty variable also takes the default.
      out += (value && !value->empty()) ? std::string_view(*value) : fallback;
    } else {
      return failure("invalid '" + std::string(reference) + "': write ${NAME} or ${NAME:-default}",
                     start);
    }
    i = close + 1;
  }
  ExpandResult result;
  result.value = std::move(out);
  return result;
}

}  // namespace reachprobe::config
