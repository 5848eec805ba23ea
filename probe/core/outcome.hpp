#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace reachprobe {

// The closed result vocabulary of SPEC.md. The same words appear in the `result` label,
// in `check` output and in logs, so there is exactly one place that spells them.
enum class Outcome {
  Ok,
  Timeout,
  Refused,
  Unreachable,
  Reset,
  NxDomain,
  ServFail,
  DnsRefused,
  NoAnswer,
  DnsTimeout,
  TlsError,
  BadStatus,
  // A path declared `expect: closed` accepted a connection (probe/core/expectation.hpp).
  Open,
  Error,
};

inline constexpr std::array kAllOutcomes = {
    Outcome::Ok,       Outcome::Timeout,    Outcome::Refused,  Outcome::Unreachable,
    Outcome::Reset,    Outcome::NxDomain,   Outcome::ServFail, Outcome::DnsRefused,
    Outcome::NoAnswer, Outcome::DnsTimeout, Outcome::TlsError, Outcome::BadStatus,
    Outcome::Open,     Outcome::Error,
};

std::string_view to_string(Outcome outcome);
std::optional<Outcome> parse_outcome(std::string_view text);

}  // namespace reachprobe
