#include "probe/kube/inbound_ports.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <tuple>
#include <variant>

namespace reachprobe::kube {

namespace {

constexpr std::uint16_t kKubeletPort = 10250;

struct Reference {
  InboundConsumer consumer;
  const ServiceReference* ref;
};

std::vector<Reference> references(const SetLookup& lookup) {
  std::vector<Reference> out;
  for (const auto& key : webhook_sources()) {
    const DiscoveredSet* set = lookup(key);
    if (set == nullptr) continue;
    for (const auto& [name, group] : set->objects) {
      for (const auto& ref : group.references) {
        InboundConsumer consumer{std::string(kind_name(key.resource)), name, {}};
        if (ref.url.empty()) {
          consumer.service = fmt::format("{}/{}:{}", ref.namespace_name, ref.service, ref.port);
        }
        out.push_back({std::move(consumer), &ref});
      }
    }
  }
  return out;
}

const DiscoveredGroup* service_of(const DiscoveredSet& set, const std::string& name) {
  auto it = set.objects.find(name);
  return it == set.objects.end() ? nullptr : &it->second;
}

const DiscoveredPort* service_port(const DiscoveredGroup& service, std::uint16_t port) {
  for (const auto& p : service.ports) {
    if (p.port == port && p.protocol == "TCP") return &p;
  }
  return nullptr;
}

bool named(const std::string& target_port) {
  return !target_port.empty() && !port_number(target_port);
}

// The port number of a Service port, or why there is none.
std::variant<std::uint16_t, std::string> resolve(const SetLookup& lookup,
                                                 const ServiceReference& ref) {
  const std::string service = ref.namespace_name + "/" + ref.service;
  const DiscoveredSet* services = lookup({Resource::Services, ref.namespace_name, ref.service});
  if (services == nullptr) return fmt::format("the Service {} is not listed (yet)", service);
  const DiscoveredGroup* group = service_of(*services, ref.service);
  if (group == nullptr) return fmt::format("the Service {} does not exist", service);
  const DiscoveredPort* port = service_port(*group, ref.port);
  if (port == nullptr) return fmt::format("the Service {} has no TCP port {}", service, ref.port);
  if (port->target_port.empty()) return port->port;
  if (auto number = port_number(port->target_port)) return *number;
  // A name: the slices publish the resolved number under the Service port's name.
  const DiscoveredSet* slices = lookup({Resource::EndpointSlices, ref.namespace_name, ref.service});
  if (slices == nullptr) {
    return fmt::format("the EndpointSlices of {} are not listed (yet): targetPort '{}' is a name",
                       service, port->target_port);
  }
  for (const auto& [name, slice] : slices->objects) {
    for (const auto& p : slice.ports) {
      if (p.name == port->name && p.protocol == "TCP") return p.port;
    }
  }
  return fmt::format(
      "targetPort '{}' of the Service {} is a name no EndpointSlice resolves (no pod "
      "publishes it: none running?)",
      port->target_port, service);
}

}  // namespace

std::set<SourceKey> webhook_sources() {
  return {SourceKey{Resource::ValidatingWebhookConfigurations, "", ""},
          SourceKey{Resource::MutatingWebhookConfigurations, "", ""},
          SourceKey{Resource::ApiServices, "", ""}};
}

std::set<SourceKey> referenced_sources(const SetLookup& lookup) {
  std::set<SourceKey> out;
  for (const auto& [consumer, ref] : references(lookup)) {
    if (!ref->url.empty()) continue;
    const SourceKey service{Resource::Services, ref->namespace_name, ref->service};
    out.insert(service);
    const DiscoveredSet* services = lookup(service);
    if (services == nullptr) continue;
    const DiscoveredGroup* group = service_of(*services, ref->service);
    if (group == nullptr) continue;
    if (const DiscoveredPort* port = service_port(*group, ref->port);
        port && named(port->target_port)) {
      out.insert({Resource::EndpointSlices, ref->namespace_name, ref->service});
    }
  }
  return out;
}

InboundPorts resolve_inbound_ports(const SetLookup& lookup) {
  InboundPorts out;
  for (auto& [consumer, ref] : references(lookup)) {
    if (!ref->url.empty()) {
      out.not_probed.push_back(
          {consumer, 0,
           fmt::format("webhook '{}' calls {} (clientConfig.url): an address outside the "
                       "cluster's Services, not a port on the nodes; not probed",
                       ref->webhook, ref->url)});
      continue;
    }
    auto resolved = resolve(lookup, *ref);
    if (auto* why = std::get_if<std::string>(&resolved)) {
      out.not_probed.push_back({consumer, 0, *why});
      continue;
    }
    const std::uint16_t port = std::get<std::uint16_t>(resolved);
    if (port == kKubeletPort) {
      out.not_probed.push_back(
          {consumer, port,
           "10250 is the kubelet's port: the `kubelet` target probes control plane -> node "
           "10250 (reachprobe never listens there)"});
      continue;
    }
    out.ports[port].push_back(std::move(consumer));
  }
  for (auto& [port, consumers] : out.ports) {
    std::sort(consumers.begin(), consumers.end());
    consumers.erase(std::unique(consumers.begin(), consumers.end()), consumers.end());
  }
  std::sort(out.not_probed.begin(), out.not_probed.end());
  out.not_probed.erase(std::unique(out.not_probed.begin(), out.not_probed.end()),
                       out.not_probed.end());
  return out;
}

InboundConsumerInfo::InboundConsumerInfo(prometheus::Registry& registry)
    : family_(prometheus::BuildGauge()
                  .Name("reachprobe_inbound_consumer_info")
                  .Help("1 for each webhook configuration or APIService that needs a probed "
                        "inbound port (join on dst)")
                  .Register(registry)) {}

void InboundConsumerInfo::set(const std::vector<Endpoint>& endpoints) {
  for (auto* gauge : gauges_) family_.Remove(gauge);
  gauges_.clear();
  std::set<std::tuple<std::string, std::string, std::string, std::string>> added;
  for (const auto& e : endpoints) {
    if (!e.consumers) continue;
    for (const auto& c : *e.consumers) {
      // One webhook configuration may reach the port through several references.
      if (!added.emplace(e.target_name(), e.label, c.kind, c.name).second) continue;
      auto& gauge = family_.Add({{"target", e.target_name()},
                                 {"dst", e.label},
                                 {"consumer_kind", c.kind},
                                 {"consumer", c.name}});
      gauge.Set(1);
      gauges_.push_back(&gauge);
    }
  }
}

}  // namespace reachprobe::kube
