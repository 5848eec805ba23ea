#include "probe/log/logging.hpp"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>

namespace reachprobe::log {

namespace {

std::atomic<Format> g_format{Format::Text};

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
      return true;
  }
  return false;
}

}  // namespace

std::optional<spdlog::level::level_enum> parse_level(std::string_view text) {
  if (text == "debug") return spdlog::level::debug;
  if (text == "info") return spdlog::level::info;
  if (text == "warn" || text == "warning") return spdlog::level::warn;
  if (text == "error") return spdlog::level::err;
  return std::nullopt;
}

std::optional<Format> parse_format(std::string_view text) {
  if (text == "text") return Format::Text;
  if (text == "json") return Format::Json;
  return std::nullopt;
}

void setup(spdlog::level::level_enum level, Format format) {
  g_format = format;
  auto logger = spdlog::stderr_logger_st("reachprobe");
  spdlog::drop("reachprobe");
  if (format == Format::Json) {
    logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l",%v})");
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %-5l %v");
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string render_text(std::string_view message, std::initializer_list<Field> fields) {
  std::string out(message);
  for (const auto& f : fields) {
    out += ' ';
    out += f.key;
    out += '=';
    if (needs_quotes(f.value)) {
      out += '"';
      out += json_escape(f.value);
      out += '"';
    } else {
      out += f.value;
    }
  }
  return out;
}

std::string render_json_members(std::string_view message, std::initializer_list<Field> fields) {
  std::string out = "\"msg\":\"" + json_escape(message) + "\"";
  for (const auto& f : fields) {
    out += ",\"";
    out += json_escape(f.key);
    out += "\":\"";
    out += json_escape(f.value);
    out += '"';
  }
  return out;
}

void event(spdlog::level::level_enum level, std::string_view message,
           std::initializer_list<Field> fields) {
  auto logger = spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  if (g_format == Format::Json) {
    logger->log(level, "{}", render_json_members(message, fields));
  } else {
    logger->log(level, "{}", render_text(message, fields));
  }
}

}  // namespace reachprobe::log
