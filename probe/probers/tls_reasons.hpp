#pragma once

#include <string_view>

namespace reachprobe {

// How a tls_error message names its reason; `check` hints key on the same words.
inline constexpr std::string_view kTlsExpired = "certificate expired";
inline constexpr std::string_view kTlsNotYetValid = "certificate not yet valid";
inline constexpr std::string_view kTlsNameMismatch = "hostname mismatch";
inline constexpr std::string_view kTlsUnknownCa = "unknown CA";
inline constexpr std::string_view kTlsNotTls = "does not speak TLS";

}  // namespace reachprobe
