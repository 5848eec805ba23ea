#include "probe/config/env_expand.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace reachprobe::config {
namespace {

EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const EnvLookup kEnv = fake_env({{"HOST", "10.0.0.1"}, {"EMPTY", ""}, {"_A1", "x"}});

TEST(ExpandEnv, LeavesTextWithoutReferencesAlone) {
  auto result = expand_env("plain text: 10s", kEnv);
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.value, "plain text: 10s");
}

TEST(ExpandEnv, ReplacesSetVariables) {
  auto result = expand_env("https://${HOST}:443/${_A1}", kEnv);
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.value, "https://10.0.0.1:443/x");
}

TEST(ExpandEnv, SetButEmptyVariableIsEmpty) {
  auto result = expand_env("[${EMPTY}]", kEnv);
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.value, "[]");
}

TEST(ExpandEnv, UnsetVariableIsAnErrorAtItsOffset) {
  auto result = expand_env("abc ${NOPE} ${HOST}", kEnv);
  EXPECT_EQ(result.error,
            "environment variable NOPE is not set (write ${NOPE:-default} for a "
            "default)");
  EXPECT_EQ(result.error_offset, 4u);
}

TEST(ExpandEnv, DefaultAppliesWhenUnsetOrEmpty) {
  EXPECT_EQ(expand_env("${NOPE:-fallback}", kEnv).value, "fallback");
  EXPECT_EQ(expand_env("${EMPTY:-fallback}", kEnv).value, "fallback");
  EXPECT_EQ(expand_env("${HOST:-fallback}", kEnv).value, "10.0.0.1");
  EXPECT_EQ(expand_env("${NOPE:-}", kEnv).value, "");
  EXPECT_EQ(expand_env("${NOPE:-a:b-c}", kEnv).value, "a:b-c");
}

TEST(ExpandEnv, DoubleDollarIsALiteralDollar) {
  auto result = expand_env("pa$$word $${HOST} $$$$", kEnv);
  EXPECT_EQ(result.error, "");
  EXPECT_EQ(result.value, "pa$word ${HOST} $$");
}

TEST(ExpandEnv, LoneDollarStaysLiteral) {
  EXPECT_EQ(expand_env("cost $5 and $", kEnv).value, "cost $5 and $");
}

TEST(ExpandEnv, ValuesAreNotExpandedAgain) {
  auto env = fake_env({{"A", "${B}"}, {"B", "no"}});
  EXPECT_EQ(expand_env("${A}", env).value, "${B}");
}

TEST(ExpandEnv, MalformedReferencesAreErrors) {
  struct Case {
    const char* text;
    const char* error;
    std::size_t offset;
  };
  for (const Case& c : {
           Case{"x ${HOST", "'${' without a closing '}'", 2},
           Case{"${}", "'${}' has no variable name; write ${NAME} or ${NAME:-default}", 0},
           Case{"ok ${:-x}", "'${:-x}' has no variable name; write ${NAME} or ${NAME:-default}", 3},
           Case{"${1A}", "invalid variable name '1A' in '${1A}': it must not start with a digit",
                0},
           Case{"${HOST:x}", "invalid '${HOST:x}': write ${NAME} or ${NAME:-default}", 0},
           Case{"${HOST-x}", "invalid '${HOST-x}': write ${NAME} or ${NAME:-default}", 0},
           Case{"${A B}", "invalid '${A B}': write ${NAME} or ${NAME:-default}", 0},
           Case{"${A:-${B}}", "a default in '${...}' cannot contain another '${'", 0},
       }) {
    auto result = expand_env(c.text, kEnv);
    EXPECT_EQ(result.error, c.error) << c.text;
    EXPECT_EQ(result.error_offset, c.offset) << c.text;
  }
}

}  // namespace
}  // namespace reachprobe::config
