#include "probe/log/logging.hpp"

#include <gtest/gtest.h>

namespace reachprobe::log {
namespace {

TEST(Logging, TextQuotesValuesThatNeedIt) {
  EXPECT_EQ(render_text("endpoint failing", {{"target", "cp"}, {"message", "no answer from x"}}),
            R"(endpoint failing target=cp message="no answer from x")");
  EXPECT_EQ(render_text("m", {{"empty", ""}}), R"(m empty="")");
}

TEST(Logging, JsonEscapesEverything) {
  EXPECT_EQ(render_json_members("a \"quoted\"\nline", {{"k", "back\\slash\x01"}}),
            R"("msg":"a \"quoted\"\nline","k":"back\\slash\u0001")");
}

TEST(Logging, ParsesLevelsAndFormats) {
  EXPECT_EQ(parse_level("warn"), spdlog::level::warn);
  EXPECT_EQ(parse_level("verbose"), std::nullopt);
  EXPECT_EQ(parse_format("json"), Format::Json);
  EXPECT_EQ(parse_format("yaml"), std::nullopt);
}

}  // namespace
}  // namespace reachprobe::log
