#include "probe/core/outcome.hpp"

namespace reachprobe {

std::string_view to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::Ok:
      return "ok";
    case Outcome::Timeout:
      return "timeout";
    case Outcome::Refused:
      return "refused";
    case Outcome::Unreachable:
      return "unreachable";
    case Outcome::Reset:
      return "reset";
    case Outcome::NxDomain:
      return "nxdomain";
    case Outcome::ServFail:
      return "servfail";
    case Outcome::DnsRefused:
      return "dns_refused";
    case Outcome::NoAnswer:
      return "no_answer";
    case Outcome::DnsTimeout:
      return "dns_timeout";
    case Outcome::TlsError:
      return "tls_error";
    case Outcome::BadStatus:
      return "bad_status";
    case Outcome::Open:
      return "open";
    case Outcome::Error:
      return "error";
  }
  return "error";
}

std::optional<Outcome> parse_outcome(std::string_view text) {
  for (Outcome o : kAllOutcomes) {
    if (to_string(o) == text) return o;
  }
  return std::nullopt;
}

}  // namespace reachprobe
