#include "probe/core/expectation.hpp"

#include <gtest/gtest.h>

#include "probe/core/judge.hpp"

namespace reachprobe {
namespace {

TEST(Expectation, AnOpenPathSucceedsOnlyWithOk) {
  for (Outcome o : kAllOutcomes) {
    EXPECT_EQ(succeeded(o, Expectation::Open), o == Outcome::Ok) << to_string(o);
    EXPECT_EQ(judged_outcome(o, Expectation::Open), o) << to_string(o);
  }
}

TEST(Expectation, AClosedPathSucceedsWithoutAConnectionAndKeepsTheWord) {
  for (Outcome o : {Outcome::Timeout, Outcome::Refused, Outcome::Unreachable}) {
    EXPECT_EQ(judged_outcome(o, Expectation::Closed), o) << to_string(o);
    EXPECT_TRUE(succeeded(o, Expectation::Closed)) << to_string(o);
  }
  // A connection, whatever followed it, is `open`.
  for (Outcome o : {Outcome::Ok, Outcome::BadStatus, Outcome::TlsError, Outcome::Reset}) {
    EXPECT_EQ(judged_outcome(o, Expectation::Closed), Outcome::Open) << to_string(o);
  }
  EXPECT_FALSE(succeeded(Outcome::Open, Expectation::Closed));
  // What says nothing about the path (the name did not resolve) stays a failure.
  for (Outcome o : {Outcome::NxDomain, Outcome::DnsTimeout, Outcome::Error}) {
    EXPECT_EQ(judged_outcome(o, Expectation::Closed), o) << to_string(o);
    EXPECT_FALSE(succeeded(o, Expectation::Closed)) << to_string(o);
  }
}

TEST(Expectation, ParsesItsTwoWords) {
  EXPECT_EQ(parse_expectation("closed"), Expectation::Closed);
  EXPECT_EQ(parse_expectation("open"), Expectation::Open);
  EXPECT_EQ(parse_expectation("Closed"), std::nullopt);
  EXPECT_EQ(to_string(Expectation::Closed), "closed");
}

TEST(Judge, ATimeoutOnAClosedPathIsOkAndReportedAsTimeout) {
  Target target;
  target.expectation = Expectation::Closed;
  ProbeResult result;
  result.outcome = Outcome::Timeout;
  result.message = "no answer";
  judge(target, result);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.outcome, Outcome::Timeout);
  EXPECT_EQ(result.message, "no answer");
}

TEST(Judge, AnAnswerOnAClosedPathIsOpenAndSaysWhatAnswered) {
  Target target;
  target.type = ProbeType::Http;
  target.expectation = Expectation::Closed;
  ProbeResult result;
  result.outcome = Outcome::Ok;
  result.http_status = 200;
  judge(target, result);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.outcome, Outcome::Open);
  EXPECT_EQ(result.message,
            "the path must be closed (expect: closed) but accepted a connection and answered "
            "HTTP 200");
}

TEST(Judge, ADnsTargetsExpectationIsOfTheAddressesItConnectsTo) {
  Target target;
  target.type = ProbeType::Dns;
  target.expectation = Expectation::Closed;
  ProbeResult result;
  result.outcome = Outcome::Ok;
  result.fanout.push_back({"10.0.0.1", 5432, {}});
  result.fanout.push_back({"10.0.0.2", 5432, {}});
  result.fanout[0].result.outcome = Outcome::Ok;
  result.fanout[1].result.outcome = Outcome::Refused;
  judge(target, result);
  EXPECT_TRUE(result.ok());  // the name resolved
  EXPECT_EQ(result.fanout[0].result.outcome, Outcome::Open);
  EXPECT_FALSE(result.fanout[0].result.ok());
  EXPECT_EQ(result.fanout[1].result.outcome, Outcome::Refused);
  EXPECT_TRUE(result.fanout[1].result.ok());
}

TEST(Judge, AnOpenPathIsLeftAsTheProberSaidIt) {
  Target target;
  ProbeResult result;
  result.outcome = Outcome::Timeout;
  judge(target, result);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.outcome, Outcome::Timeout);
}

}  // namespace
}  // namespace reachprobe
