#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "probe/core/target.hpp"
#include "probe/dns/resolver.hpp"
#include "probe/probers/prober.hpp"

namespace reachprobe {

// The prober of each probe type. Adding a type is a new prober file plus one line in
// make_probers().
class ProberSet {
 public:
  void add(ProbeType type, std::unique_ptr<Prober> prober) {
    probers_[static_cast<std::size_t>(type)] = std::move(prober);
  }
  Prober* find(ProbeType type) const { return probers_[static_cast<std::size_t>(type)].get(); }

 private:
  std::array<std::unique_ptr<Prober>, 6> probers_{};
};

// What probers are built from; the CLI fills it from the config.
struct ProberDependencies {
  // Resolves host names of tcp (and later tls/http) targets.
  dns::Resolver& resolver;
  // The one io_context; the dns prober makes its c-ares channels on it.
  boost::asio::io_context& io;
  // The global DNS settings the Resolver was built from too (dns.servers, the c-ares retry
  // policy, a test resolv.conf): the dns prober uses them for targets without `server`.
  dns::ResolverOptions dns;
  // This node's name (this_node_name()): dns targets with max_connect choose by it.
  std::string node_name;
};

ProberSet make_probers(const ProberDependencies& deps);

// Whether make_probers() has a prober for `type`: config validation asks before anything
// is built.
bool is_supported(ProbeType type);

}  // namespace reachprobe
