#pragma once

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "probe/core/endpoint.hpp"
#include "probe/kube/objects.hpp"

namespace reachprobe::kube {

// The cluster-scoped sources of `discover: webhooks`: Validating- and
// MutatingWebhookConfigurations, APIServices.
std::set<SourceKey> webhook_sources();

// A consumer whose port is not probed, and why: a URL webhook (outside the cluster), the
// kubelet's port, a Service that does not exist, a port that does not resolve.
struct UnprobedConsumer {
  InboundConsumer consumer;
  std::uint16_t port = 0;  // 0 when not resolved
  std::string why;
  auto operator<=>(const UnprobedConsumer&) const = default;
  bool operator==(const UnprobedConsumer&) const = default;
};

// The ports the control plane must reach on nodes for the cluster's webhooks and aggregated
// APIs, each with everything that needs it (sorted, no duplicates).
struct InboundPorts {
  std::map<std::uint16_t, std::vector<InboundConsumer>> ports;
  std::vector<UnprobedConsumer> not_probed;
  bool operator==(const InboundPorts&) const = default;
};

// The Services the webhook sources reference now, and the EndpointSlices of those whose
// referenced port has a named targetPort (the name resolves only there).
std::set<SourceKey> referenced_sources(const SetLookup& lookup);

// Service reference -> Service port -> targetPort, a named targetPort resolved through the
// EndpointSlices' port of the same name as the Service port, as kube-proxy does. 10250 is
// the kubelet's (the `kubelet` probe covers that path): never a port to listen on.
InboundPorts resolve_inbound_ports(const SetLookup& lookup);

// reachprobe_inbound_consumer_info{target, dst, consumer_kind, consumer} = 1: which webhook
// configurations and APIServices need each probed inbound port. The probe series stay one
// per port; this family joins on `dst` (a consumer coming or going changes no probe series).
class InboundConsumerInfo {
 public:
  explicit InboundConsumerInfo(prometheus::Registry& registry);
  // Exactly the consumers of `endpoints` (those of discovered inbound ports) from now on.
  void set(const std::vector<Endpoint>& endpoints);

 private:
  prometheus::Family<prometheus::Gauge>& family_;
  std::vector<prometheus::Gauge*> gauges_;
};

}  // namespace reachprobe::kube
