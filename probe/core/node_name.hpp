#pragma once

#include <string>

namespace reachprobe {

// The name of the node this process runs on: $NODE_NAME (a DaemonSet sets it from
// spec.nodeName through the downward API), else the host name, else "unknown". Used where
// nodes must make different but stable choices, e.g. which addresses a dns probe with
// max_connect connects to.
std::string this_node_name();

}  // namespace reachprobe
