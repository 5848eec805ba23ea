#pragma once

#include <optional>
#include <string_view>

#include "probe/core/outcome.hpp"

namespace reachprobe {

// What a target's path should be: open (the default: a connection is success) or closed
// (`expect: closed`: a path that policy forbids, e.g. IMDS from pods with hop limit 1).
enum class Expectation { Open, Closed };

std::string_view to_string(Expectation expectation);
std::optional<Expectation> parse_expectation(std::string_view text);

// The one judgement of success: metrics, `check`, logs and alerts all take it from here
// (through ProbeResult::ok()), so they cannot disagree. For a closed path, no connection
// (timeout, refused, unreachable) is success and keeps its word; `open` is its failure.
bool succeeded(Outcome outcome, Expectation expectation);

// The outcome a prober's `outcome` becomes for a path expected to be `expectation`: under
// closed, whatever shows a connection was made (ok, an HTTP status, a TLS failure after
// the handshake started, a reset of an established connection) is `open`; everything else
// stays what it was.
Outcome judged_outcome(Outcome outcome, Expectation expectation);

}  // namespace reachprobe
