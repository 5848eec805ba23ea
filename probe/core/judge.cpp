#include "probe/core/judge.hpp"

#include <fmt/format.h>

namespace reachprobe {

namespace {

void judge_one(Expectation expectation, ProbeResult& result) {
  result.expectation = expectation;
  const Outcome before = result.outcome;
  result.outcome = judged_outcome(before, expectation);
  if (result.outcome != Outcome::Open || before == Outcome::Open) return;
  constexpr std::string_view what =
      "the path must be closed (expect: closed) but accepted a connection";
  if (result.http_status) {
    result.message = fmt::format("{} and answered HTTP {}", what, *result.http_status);
  } else if (before == Outcome::Ok) {
    result.message = std::string(what);
  } else if (result.message.empty()) {
    result.message = fmt::format("{} (then {})", what, to_string(before));
  } else {
    result.message = fmt::format("{} (then {}: {})", what, to_string(before), result.message);
  }
}

}  // namespace

void judge(const Target& target, ProbeResult& result) {
  if (target.expectation == Expectation::Open) return;
  if (target.type == ProbeType::Dns) {
    for (auto& f : result.fanout) judge_one(target.expectation, f.result);
    return;
  }
  judge_one(target.expectation, result);
}

}  // namespace reachprobe
