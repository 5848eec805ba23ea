#include "probe/kube/expand.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "probe/core/stable_hash.hpp"
#include "probe/kube/inbound_ports.hpp"

namespace reachprobe::kube {

namespace {

// The ports of one object a target probes.
std::vector<std::uint16_t> ports_for(const Target& target, const DiscoveredGroup& group) {
  std::vector<std::uint16_t> ports;
  const std::string& wanted = target.discover->port;
  if (!wanted.empty()) {
    if (auto number = port_number(wanted)) {
      // A number is probed as given, published or not (e.g. a node port the slice omits).
      ports.push_back(*number);
    } else {
      for (const auto& p : group.ports) {
        if (p.name == wanted) ports.push_back(p.port);
      }
    }
  } else if (!target.ports.empty()) {
    ports = target.ports;
  } else {
    const std::string_view protocol = target.type == ProbeType::Dns ? "UDP" : "TCP";
    for (const auto& p : group.ports) {
      if (p.protocol == protocol) ports.push_back(p.port);
    }
  }
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  return ports;
}

}  // namespace

std::set<SourceKey> sources_of(const std::vector<std::shared_ptr<const Target>>& targets,
                               const SetLookup& lookup) {
  std::set<SourceKey> sources;
  bool webhooks = false;
  for (const auto& t : targets) {
    webhooks |= t->discover_webhooks;
    if (!t->discover) continue;
    sources.insert(source_of(*t));
    if (auto backends = backends_source_of(*t)) sources.insert(*backends);
  }
  if (webhooks) {
    sources.merge(webhook_sources());
    if (lookup) sources.merge(referenced_sources(lookup));
  }
  return sources;
}

namespace {

// The endpoints of an inbound target with `discover: webhooks`: its own ports, then every
// discovered port no inbound target lists, each with its consumers.
std::vector<Endpoint> expand_webhook_inbound(
    const std::shared_ptr<const Target>& target,
    const std::vector<std::shared_ptr<const Target>>& targets, const InboundPorts& found) {
  std::set<std::uint16_t> listed;
  for (const auto& t : targets) {
    if (t->type == ProbeType::Inbound && t != target)
      listed.insert(t->ports.begin(), t->ports.end());
  }
  std::vector<Endpoint> out = expand_endpoints({target});
  const std::string ip = target->hosts.empty() ? "" : target->hosts.front();
  for (auto& e : out) {
    if (auto it = found.ports.find(e.port); it != found.ports.end()) {
      e.consumers = std::make_shared<const std::vector<InboundConsumer>>(it->second);
    }
  }
  for (const auto& [port, consumers] : found.ports) {
    if (listed.count(port) ||
        std::find(target->ports.begin(), target->ports.end(), port) != target->ports.end()) {
      continue;
    }
    Endpoint e{target, ip, port, ip.empty() ? fmt::format(":{}", port) : join_host_port(ip, port)};
    e.consumers = std::make_shared<const std::vector<InboundConsumer>>(consumers);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

std::vector<Endpoint> expand_discovered(const std::shared_ptr<const Target>& target,
                                        const DiscoveredSet& set, std::string_view node_name) {
  struct Candidate {
    const DiscoveredAddress* address;
    std::vector<std::uint16_t> ports;
  };
  // By IP: an address in two slices (a pod moving between them) is one address.
  std::map<std::string_view, Candidate> candidates;
  for (const auto& [name, group] : set.objects) {
    std::vector<std::uint16_t> ports = ports_for(*target, group);
    if (ports.empty()) continue;
    for (const auto& a : group.addresses) {
      if (!a.ready && !target->discover->include_not_ready) continue;
      if (target->exclude_self && !a.node.empty() && a.node == node_name) continue;
      auto [it, inserted] = candidates.try_emplace(a.ip, Candidate{&a, ports});
      if (!inserted) {
        it->second.ports.insert(it->second.ports.end(), ports.begin(), ports.end());
      }
    }
  }
  std::vector<const Candidate*> chosen;
  for (const auto& [ip, candidate] : candidates) chosen.push_back(&candidate);
  if (target->max_connect && chosen.size() > *target->max_connect) {
    // Rendezvous hashing, as select_connect_addresses: each node keeps its choice while the
    // set does not change, nodes choose differently, one address coming or going changes
    // at most one choice.
    auto score = [node_name](const Candidate* c) {
      std::string key(node_name);
      key += '\x1f';
      key += c->address->ip;
      return stable_hash(key);
    };
    std::stable_sort(
        chosen.begin(), chosen.end(),
        [&score](const Candidate* a, const Candidate* b) { return score(a) > score(b); });
    chosen.resize(*target->max_connect);
    std::sort(chosen.begin(), chosen.end(), [](const Candidate* a, const Candidate* b) {
      return a->address->ip < b->address->ip;
    });
  }
  std::vector<Endpoint> out;
  for (const Candidate* c : chosen) {
    std::shared_ptr<const PeerLabels> peer;  // one per address, shared by its ports
    std::vector<std::uint16_t> ports = c->ports;
    std::sort(ports.begin(), ports.end());
    ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
    for (auto port : ports) {
      Endpoint e{target, c->address->ip, port, join_host_port(c->address->ip, port)};
      if (!c->address->node.empty() || !c->address->zone.empty()) {
        if (!peer || peer->node != c->address->node || peer->zone != c->address->zone) {
          peer = std::make_shared<const PeerLabels>(PeerLabels{c->address->node, c->address->zone});
        }
        e.peer = peer;
      }
      out.push_back(std::move(e));
    }
  }
  return out;
}

std::vector<Endpoint> expand_all(const std::vector<std::shared_ptr<const Target>>& targets,
                                 const SetLookup& lookup, std::string_view node_name) {
  std::vector<Endpoint> out;
  std::optional<InboundPorts> inbound;
  for (const auto& t : targets) {
    if (t->discover_webhooks) {
      if (!inbound) inbound = resolve_inbound_ports(lookup);
      auto found = expand_webhook_inbound(t, targets, *inbound);
      std::move(found.begin(), found.end(), std::back_inserter(out));
      continue;
    }
    if (!t->discover) {
      auto literal = expand_endpoints({t});
      std::move(literal.begin(), literal.end(), std::back_inserter(out));
      continue;
    }
    if (const DiscoveredSet* set = lookup(source_of(*t))) {
      auto found = expand_discovered(t, *set, node_name);
      const auto backends_source = backends_source_of(*t);
      if (const DiscoveredSet* slices = backends_source ? lookup(*backends_source) : nullptr) {
        auto backends = std::make_shared<const ServiceBackends>(ServiceBackends{
            t->discover->namespace_name, t->discover->service, slices->ready_count()});
        for (auto& e : found) e.backends = backends;
      }
      std::move(found.begin(), found.end(), std::back_inserter(out));
    }
  }
  return out;
}

}  // namespace reachprobe::kube
