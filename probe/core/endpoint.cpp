#include "probe/core/endpoint.hpp"

#include <fmt/format.h>

namespace reachprobe {

std::string Endpoint::key() const {
  std::string k = target->name;
  k += '\x1f';
  k += to_string(target->type);
  k += '\x1f';
  k += label;
  return k;
}

namespace {
const std::string kNone;
}  // namespace

const std::string& Endpoint::peer_node() const { return peer ? peer->node : kNone; }
const std::string& Endpoint::peer_zone() const { return peer ? peer->zone : kNone; }

std::string describe_consumers(const std::vector<InboundConsumer>& consumers) {
  std::string out;
  for (const auto& c : consumers) {
    if (!out.empty()) out += ", ";
    out += c.to_string();
  }
  return out;
}

std::string join_host_port(const std::string& host, std::uint16_t port) {
  // fmt, not `"[" + host`: GCC 12 at -O3 reports that operator+ as an overflowing memcpy
  // (a false -Wstringop-overflow/-Wrestrict, GCC bug 105329), which fails a Release build.
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

std::vector<Endpoint> expand_endpoints(const std::vector<std::shared_ptr<const Target>>& targets) {
  std::vector<Endpoint> out;
  for (const auto& t : targets) {
    if (t->discover) continue;
    switch (t->type) {
      case ProbeType::Tcp:
      case ProbeType::Tls:
        for (const auto& h : t->hosts) {
          for (auto p : t->ports) out.push_back(Endpoint{t, h, p, join_host_port(h, p)});
        }
        break;
      case ProbeType::Dns:
        out.push_back(Endpoint{t, t->query, 0, t->query});
        break;
      case ProbeType::Http:
        out.push_back(Endpoint{t, "", 0, t->url});
        break;
      // hosts holds the pod IP, when known: the address the API server dials.
      case ProbeType::Inbound:
      case ProbeType::Kubelet: {
        const std::string ip = t->hosts.empty() ? "" : t->hosts.front();
        const std::vector<std::uint16_t> ports =
            t->type == ProbeType::Kubelet ? std::vector<std::uint16_t>{10250} : t->ports;
        for (auto p : ports) {
          out.push_back(
              Endpoint{t, ip, p, ip.empty() ? fmt::format(":{}", p) : join_host_port(ip, p)});
        }
        break;
      }
    }
  }
  return out;
}

}  // namespace reachprobe
