#pragma once

#include <spdlog/spdlog.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace reachprobe::log {

enum class Format { Text, Json };

std::optional<spdlog::level::level_enum> parse_level(std::string_view text);
std::optional<Format> parse_format(std::string_view text);

// Configures the default spdlog logger to write to stderr in `format`.
void setup(spdlog::level::level_enum level, Format format);

struct Field {
  std::string_view key;
  std::string_view value;
};

// One structured event: text format renders `message key=value ...` (values quoted when
// they contain spaces), json renders one object per line with every field as a member.
void event(spdlog::level::level_enum level, std::string_view message,
           std::initializer_list<Field> fields = {});

// Rendering, exposed for tests.
std::string render_text(std::string_view message, std::initializer_list<Field> fields);
std::string render_json_members(std::string_view message, std::initializer_list<Field> fields);
std::string json_escape(std::string_view text);

}  // namespace reachprobe::log
