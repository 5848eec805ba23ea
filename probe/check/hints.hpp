#pragma once

#include <string>

#include "probe/core/endpoint.hpp"
#include "probe/core/probe_result.hpp"

namespace reachprobe {

// The likely cause of a failure and what to change, for `check` output. A target's own
// `hint` wins; then what is known about the port (9443 is an admission webhook, 10250 the
// kubelet, ...); then the generic meaning of the result. Empty for ok.
std::string hint_for(const Endpoint& endpoint, const ProbeResult& result);

}  // namespace reachprobe
