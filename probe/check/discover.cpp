#include "probe/check/discover.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <map>
#include <variant>

#include "probe/kube/discovery.hpp"
#include "probe/kube/expand.hpp"

namespace reachprobe {

namespace asio = boost::asio;

CheckDiscovery discover_for_check(asio::io_context& io,
                                  const std::vector<std::shared_ptr<const Target>>& targets,
                                  const KubernetesApi& api, const dns::ResolverOptions& dns,
                                  std::string_view node_name) {
  std::map<kube::SourceKey, Duration> timeouts;
  for (const auto& t : targets) {
    if (!t->discover) continue;
    auto& timeout = timeouts[kube::source_of(*t)];
    timeout = std::max<Duration>(timeout, t->timeout);
    // Only to explain a refused ClusterIP: a failure to list it is no failing row.
    if (auto backends = kube::backends_source_of(*t)) {
      auto& also = timeouts[*backends];
      also = std::max<Duration>(also, t->timeout);
    }
  }
  std::map<kube::SourceKey, std::variant<kube::DiscoveredSet, kube::ApiFailure>> lists;
  if (!timeouts.empty()) {
    auto resolver = std::make_shared<dns::Resolver>(io, dns);
    kube::ApiClient client(resolver, api);
    std::size_t remaining = timeouts.size();
    for (const auto& [key, timeout] : timeouts) {
      asio::co_spawn(
          io,
          [&, key = key, timeout = timeout]() -> asio::awaitable<void> {
            lists[key] = co_await kube::list_once(client, key, timeout);
            if (--remaining == 0) io.stop();
          },
          asio::detached);
    }
    io.restart();
    io.run();
  }
  CheckDiscovery out;
  out.endpoints = kube::expand_all(
      targets,
      [&lists](const kube::SourceKey& key) -> const kube::DiscoveredSet* {
        auto it = lists.find(key);
        return it == lists.end() ? nullptr : std::get_if<kube::DiscoveredSet>(&it->second);
      },
      node_name);
  for (const auto& t : targets) {
    if (!t->discover) continue;
    const auto key = kube::source_of(*t);
    auto it = lists.find(key);
    if (it == lists.end()) continue;
    if (auto* failure = std::get_if<kube::ApiFailure>(&it->second)) {
      CheckRow row{Endpoint{t, "", 0, key.to_string()}, {}, {}};
      row.result.outcome = Outcome::Error;
      row.result.message = failure->message;
      out.failures.push_back(std::move(row));
    }
  }
  return out;
}

}  // namespace reachprobe
