#include "probe/core/expectation.hpp"

namespace reachprobe {

std::string_view to_string(Expectation expectation) {
  return expectation == Expectation::Closed ? "closed" : "open";
}

std::optional<Expectation> parse_expectation(std::string_view text) {
  if (text == "open") return Expectation::Open;
  if (text == "closed") return Expectation::Closed;
  return std::nullopt;
}

bool succeeded(Outcome outcome, Expectation expectation) {
  if (expectation == Expectation::Open) return outcome == Outcome::Ok;
  return outcome == Outcome::Timeout || outcome == Outcome::Refused ||
         outcome == Outcome::Unreachable;
}

Outcome judged_outcome(Outcome outcome, Expectation expectation) {
  if (expectation == Expectation::Open) return outcome;
  switch (outcome) {
    case Outcome::Ok:
    case Outcome::Open:
    case Outcome::BadStatus:
    case Outcome::TlsError:
    case Outcome::Reset:
      return Outcome::Open;
    default:
      return outcome;
  }
}

}  // namespace reachprobe
