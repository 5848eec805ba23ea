#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string_view>
#include <vector>

#include "probe/check/check.hpp"
#include "probe/dns/resolver.hpp"
#include "probe/kube/inbound_ports.hpp"
#include "probe/probers/kubernetes.hpp"

namespace reachprobe {

struct CheckDiscovery {
  std::vector<Endpoint> endpoints;  // every target's, discovered ones from one list each
  std::vector<CheckRow> failures;   // a row (result error) per target whose source failed
  // `discover: webhooks`: consumers whose port is not probed, and why (never dropped).
  std::vector<kube::UnprobedConsumer> not_probed;
};

// `check` for discovered targets: lists each source once (no watch), all at once, each
// bounded by the longest timeout of the targets that use it; runs `io` until done.
CheckDiscovery discover_for_check(boost::asio::io_context& io,
                                  const std::vector<std::shared_ptr<const Target>>& targets,
                                  const KubernetesApi& api, const dns::ResolverOptions& dns,
                                  std::string_view node_name);

// Under check's table: each consumer not probed and why; empty if none.
std::string format_not_probed_table(const std::vector<kube::UnprobedConsumer>& not_probed);
// The member `"not_probed": [...]` of check's JSON.
std::string format_not_probed_json(const std::vector<kube::UnprobedConsumer>& not_probed);

}  // namespace reachprobe
