#pragma once

#include <array>
#include <memory>

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

struct ProberDependencies {
  dns::Resolver& resolver;
};

ProberSet make_probers(const ProberDependencies& deps);

// Whether make_probers() has a prober for `type`: config validation asks before anything
// is built.
bool is_supported(ProbeType type);

}  // namespace reachprobe
