#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "probe/core/target.hpp"
#include "probe/dns/resolver.hpp"
#include "probe/probers/kubernetes.hpp"
#include "probe/probers/prober.hpp"

namespace reachprobe {

// The prober of each probe type. Adding a type is a new prober file plus one line in
// make_probers(). Probers are shared: a probe in flight keeps its prober (and what the
// prober holds, such as the resolver) alive across a reload that replaced them.
class ProberSet {
 public:
  void add(ProbeType type, std::shared_ptr<Prober> prober) {
    probers_[static_cast<std::size_t>(type)] = std::move(prober);
  }
  std::shared_ptr<Prober> find(ProbeType type) const {
    return probers_[static_cast<std::size_t>(type)];
  }

 private:
  std::array<std::shared_ptr<Prober>, 6> probers_{};
};

// What probers are built from; the CLI fills it from the config.
struct ProberDependencies {
  // The one io_context; the resolver and the dns prober's c-ares channels run on it.
  boost::asio::io_context& io;
  // The global DNS settings (dns.servers, the c-ares retry policy, a test resolv.conf): the
  // host-name resolver of tcp/tls/http targets is built from them, and the dns prober uses
  // them for targets without `server`.
  dns::ResolverOptions dns;
  // This node's name (this_node_name()): dns targets with max_connect choose by it.
  std::string node_name;
  // How inbound and kubelet probes reach the API server.
  KubernetesApi kubernetes{};
};

// Throws std::invalid_argument for DNS settings c-ares cannot use (a malformed server).
ProberSet make_probers(const ProberDependencies& deps);

}  // namespace reachprobe
