#pragma once

#include <boost/system/error_code.hpp>
#include <string>

#include "probe/core/endpoint.hpp"
#include "probe/core/outcome.hpp"
#include "probe/core/probe_result.hpp"

namespace reachprobe {

// What a failed connect() says about the path. The deadline case is not here: a connect
// that the deadline cut short is a Timeout whatever the error code says.
Outcome classify_connect_error(const boost::system::error_code& ec);

// A message an operator can act on, e.g. "connection refused (RST): nothing listens on
// 10.0.0.1:9443".
std::string describe_connect_error(const boost::system::error_code& ec, const std::string& where);

// A connect refused by a ClusterIP whose Service had no ready endpoint at the last discovery
// is kube-proxy's reject rule, not a port nobody listens on: says so in `result` (message
// and finding). Any other result, and a ClusterIP with ready endpoints, is left alone.
void explain_refused_cluster_ip(const Endpoint& endpoint, ProbeResult& result);

}  // namespace reachprobe
