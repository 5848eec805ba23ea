#include "probe/probers/prober_set.hpp"

#include "probe/probers/dns.hpp"
#include "probe/probers/http.hpp"
#include "probe/probers/inbound.hpp"
#include "probe/probers/tcp.hpp"
#include "probe/probers/tls.hpp"

namespace reachprobe {

ProberSet make_probers(const ProberDependencies& deps) {
  ProberSet set;
  auto resolver = std::make_shared<dns::Resolver>(deps.io, deps.dns);
  set.add(ProbeType::Tcp, std::make_shared<TcpProber>(resolver));
  set.add(ProbeType::Tls, std::make_shared<TlsProber>(resolver));
  set.add(ProbeType::Http, std::make_shared<HttpProber>(resolver));
  set.add(ProbeType::Inbound, std::make_shared<InboundProber>(deps.io, resolver, deps.kubernetes));
  set.add(ProbeType::Kubelet, std::make_shared<KubeletProber>(resolver, deps.kubernetes));
  set.add(ProbeType::Dns, std::make_shared<DnsProber>(deps.io, deps.dns, deps.node_name));
  return set;
}

}  // namespace reachprobe
