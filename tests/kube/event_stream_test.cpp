#include "probe/kube/event_stream.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace reachprobe::kube {
namespace {

// Built by append: GCC 12 warns falsely on `std::string(n, c) + "..."` (bug 105329).
std::string repeated(std::string before, std::size_t n, char c, std::string_view after) {
  before.append(n, c);
  before.append(after);
  return before;
}

const std::string kAdded =
    R"({"type":"ADDED","object":{"kind":"EndpointSlice","metadata":{"name":"a","resourceVersion":"5"}}})"
    "\n";
const std::string kDeleted =
    R"({"type":"DELETED","object":{"kind":"EndpointSlice","metadata":{"name":"b"}}})"
    "\n";
const std::string kBookmark =
    R"({"type":"BOOKMARK","object":{"kind":"EndpointSlice","metadata":{"resourceVersion":"9"}}})"
    "\n";

TEST(WatchEventParser, ParsesEventsSplitAtEveryByte) {
  std::string stream = kAdded;
  stream.append("\n").append(kDeleted).append(kBookmark);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    WatchEventParser parser;
    std::vector<WatchEvent> events;
    ASSERT_EQ(parser.feed(std::string_view(stream).substr(0, cut), events),
              WatchEventParser::Status::Ok);
    ASSERT_EQ(parser.feed(std::string_view(stream).substr(cut), events),
              WatchEventParser::Status::Ok);
    ASSERT_EQ(events.size(), 3u) << "cut at " << cut;
    EXPECT_EQ(events[0].type, EventType::Added);
    EXPECT_EQ(events[0].object.get<std::string>("metadata.name"), "a");
    EXPECT_EQ(events[1].type, EventType::Deleted);
    EXPECT_EQ(events[2].type, EventType::Bookmark);
    EXPECT_EQ(events[2].object.get<std::string>("metadata.resourceVersion"), "9");
    EXPECT_FALSE(parser.mid_event());
  }
}

TEST(WatchEventParser, ByteByByte) {
  const std::string stream = kAdded + kDeleted;
  WatchEventParser parser;
  std::vector<WatchEvent> events;
  for (char c : stream) {
    ASSERT_EQ(parser.feed(std::string_view(&c, 1), events), WatchEventParser::Status::Ok);
  }
  EXPECT_EQ(events.size(), 2u);
}

TEST(WatchEventParser, TellsAnEventBegunButNotEnded) {
  WatchEventParser parser;
  std::vector<WatchEvent> events;
  parser.feed(kAdded.substr(0, 20), events);
  EXPECT_TRUE(parser.mid_event());
  EXPECT_TRUE(events.empty());
  parser.feed(kAdded.substr(20), events);
  EXPECT_FALSE(parser.mid_event());
  EXPECT_EQ(events.size(), 1u);
}

TEST(WatchEventParser, MalformedJsonIsAnErrorThatSticks) {
  WatchEventParser parser;
  std::vector<WatchEvent> events;
  EXPECT_EQ(parser.feed("this is not json\n", events), WatchEventParser::Status::Malformed);
  EXPECT_NE(parser.error().find("invalid JSON"), std::string::npos) << parser.error();
  EXPECT_EQ(parser.feed(kAdded, events), WatchEventParser::Status::Malformed);
  EXPECT_TRUE(events.empty());
}

TEST(WatchEventParser, EventsWithoutTypeOrObjectOrOfUnknownTypeAreMalformed) {
  for (const std::string line :
       {R"({"object":{}})", R"({"type":"ADDED"})", R"({"type":"RENAMED","object":{}})",
        R"({"type":{"a":1},"object":{}})", R"([1,2,3])", R"("text")"}) {
    WatchEventParser parser;
    std::vector<WatchEvent> events;
    EXPECT_EQ(parser.feed(repeated(line, 1, '\n', ""), events), WatchEventParser::Status::Malformed)
        << line;
    EXPECT_TRUE(events.empty()) << line;
  }
}

TEST(WatchEventParser, AnEventOverTheLimitIsTooLargeWithoutHoldingIt) {
  WatchEventParser parser(1024);
  std::vector<WatchEvent> events;
  const std::string big(600, 'x');
  EXPECT_EQ(parser.feed(repeated("{\"type\":\"ADDED\",\"object\":{\"a\":\"", 600, 'x', ""), events),
            WatchEventParser::Status::Ok);
  EXPECT_EQ(parser.feed(big, events), WatchEventParser::Status::TooLarge);
  EXPECT_FALSE(parser.mid_event());  // nothing held after the failure
  // A complete line over the limit is refused too.
  WatchEventParser other(1024);
  EXPECT_EQ(other.feed(repeated("", 2000, ' ', "\n"), events), WatchEventParser::Status::TooLarge);
}

TEST(WatchEventParser, DeepNestingIsRefusedNotRecursedInto) {
  WatchEventParser parser;
  std::vector<WatchEvent> events;
  const std::string deep = repeated("{\"type\":\"ADDED\",\"object\":", 200000, '[', "\n");
  EXPECT_EQ(parser.feed(deep, events), WatchEventParser::Status::Malformed);
  EXPECT_NE(parser.error().find("nested"), std::string::npos) << parser.error();
}

TEST(WatchEventParser, BracketsInStringsDoNotCountAsNesting) {
  WatchEventParser parser;
  std::vector<WatchEvent> events;
  const std::string line =
      repeated("{\"type\":\"ADDED\",\"object\":{\"s\":\"", 100, '[', "\\\"\"}}\n");
  EXPECT_EQ(parser.feed(line, events), WatchEventParser::Status::Ok) << parser.error();
  EXPECT_EQ(events.size(), 1u);
}

TEST(ParseJson, RefusesTruncatedDocuments) {
  std::string error;
  EXPECT_FALSE(parse_json(R"({"kind":"EndpointSliceList","items":[)", error));
  EXPECT_FALSE(error.empty());
  EXPECT_TRUE(parse_json(R"({"kind":"EndpointSliceList","items":[]})", error));
}

}  // namespace
}  // namespace reachprobe::kube
