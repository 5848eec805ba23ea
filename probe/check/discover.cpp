#include "probe/check/discover.hpp"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <map>
#include <variant>

#include "probe/kube/discovery.hpp"
#include "probe/kube/expand.hpp"
#include "probe/log/logging.hpp"

namespace reachprobe {

namespace asio = boost::asio;

namespace {

using Lists = std::map<kube::SourceKey, std::variant<kube::DiscoveredSet, kube::ApiFailure>>;

// Lists every source of `timeouts` not in `lists` yet, all at once; runs `io` until done.
void list_all(asio::io_context& io, kube::ApiClient& client,
              const std::map<kube::SourceKey, Duration>& timeouts, Lists& lists) {
  std::size_t remaining = 0;
  for (const auto& [key, timeout] : timeouts) remaining += lists.count(key) == 0;
  if (remaining == 0) return;
  for (const auto& [key, timeout] : timeouts) {
    if (lists.count(key)) continue;
    lists[key] = kube::ApiFailure{kube::ErrorReason::Connect, "not listed"};
    asio::co_spawn(
        io,
        [&, key = key, timeout = timeout]() -> asio::awaitable<void> {
          auto listed = co_await kube::list_once(client, key, timeout);
          // 404 is an answer: the object is absent, as an empty list says it.
          if (auto* failure = std::get_if<kube::ApiFailure>(&listed);
              failure && failure->reason == kube::ErrorReason::NotFound) {
            listed = kube::DiscoveredSet{};
          }
          lists[key] = std::move(listed);
          if (--remaining == 0) io.stop();
        },
        asio::detached);
  }
  io.restart();
  io.run();
}

}  // namespace

CheckDiscovery discover_for_check(asio::io_context& io,
                                  const std::vector<std::shared_ptr<const Target>>& targets,
                                  const KubernetesApi& api, const dns::ResolverOptions& dns,
                                  std::string_view node_name) {
  std::map<kube::SourceKey, Duration> timeouts;
  std::shared_ptr<const Target> webhook_target;
  for (const auto& t : targets) {
    if (t->discover_webhooks) webhook_target = t;
    if (!t->discover) continue;
    auto& timeout = timeouts[kube::source_of(*t)];
    timeout = std::max<Duration>(timeout, t->timeout);
    // Only to explain a refused ClusterIP: a failure to list it is no failing row.
    if (auto backends = kube::backends_source_of(*t)) {
      auto& also = timeouts[*backends];
      also = std::max<Duration>(also, t->timeout);
    }
  }
  Lists lists;
  const kube::SetLookup lookup =
      [&lists](const kube::SourceKey& key) -> const kube::DiscoveredSet* {
    auto it = lists.find(key);
    return it == lists.end() ? nullptr : std::get_if<kube::DiscoveredSet>(&it->second);
  };
  const auto sources = kube::sources_of(targets);
  for (const auto& key : sources) {
    if (!timeouts.count(key) && webhook_target) timeouts[key] = webhook_target->timeout;
  }
  if (!timeouts.empty()) {
    auto resolver = std::make_shared<dns::Resolver>(io, dns);
    kube::ApiClient client(resolver, api);
    list_all(io, client, timeouts, lists);
    // Webhooks name Services, whose named targetPorts name EndpointSlices: a round each.
    for (int round = 0; webhook_target && round < 3; ++round) {
      const std::size_t before = timeouts.size();
      for (const auto& key : kube::sources_of(targets, lookup)) {
        timeouts.try_emplace(key, webhook_target->timeout);
      }
      if (timeouts.size() == before) break;
      list_all(io, client, timeouts, lists);
    }
  }
  CheckDiscovery out;
  out.endpoints = kube::expand_all(targets, lookup, node_name);
  std::set<kube::SourceKey> reported;
  auto report = [&](const std::shared_ptr<const Target>& t, const kube::SourceKey& key) {
    auto it = lists.find(key);
    if (it == lists.end() || !reported.insert(key).second) return;
    if (auto* failure = std::get_if<kube::ApiFailure>(&it->second)) {
      CheckRow row{Endpoint{t, "", 0, key.to_string()}, {}, {}};
      row.result.outcome = Outcome::Error;
      row.result.message = failure->message;
      out.failures.push_back(std::move(row));
    }
  };
  for (const auto& t : targets) {
    if (t->discover) report(t, kube::source_of(*t));
  }
  if (webhook_target) {
    for (const auto& [key, listed] : lists) {
      if (!reported.count(key) &&
          (kube::cluster_scoped(key.resource) || kube::referenced_sources(lookup).count(key))) {
        report(webhook_target, key);
      }
    }
    auto found = kube::resolve_inbound_ports(lookup);
    for (auto& u : found.not_probed) out.not_probed.push_back(std::move(u));
    // A port another inbound target lists is probed there (one probe per port).
    for (const auto& t : targets) {
      if (t->type != ProbeType::Inbound || t == webhook_target) continue;
      for (auto port : t->ports) {
        if (auto it = found.ports.find(port); it != found.ports.end()) {
          for (const auto& c : it->second) {
            out.not_probed.push_back(
                {c, port,
                 fmt::format("probed by inbound target '{}', which lists port {}", t->name, port)});
          }
        }
      }
    }
  }
  return out;
}

std::string format_not_probed_table(const std::vector<kube::UnprobedConsumer>& not_probed) {
  if (not_probed.empty()) return {};
  std::string out = "not probed (webhooks and APIServices):\n";
  for (const auto& u : not_probed) {
    out += fmt::format(
        "  {}{}: {}\n", u.consumer.to_string(),
        u.consumer.service.empty() ? std::string() : fmt::format(" ({})", u.consumer.service),
        u.why);
  }
  return out;
}

std::string format_not_probed_json(const std::vector<kube::UnprobedConsumer>& not_probed) {
  std::string out = "\"not_probed\": [";
  for (std::size_t i = 0; i < not_probed.size(); ++i) {
    const auto& u = not_probed[i];
    out += fmt::format(
        "{}{{\"kind\": \"{}\", \"name\": \"{}\", \"service\": {}, \"port\": {}, \"why\": \"{}\"}}",
        i ? ", " : "", log::json_escape(u.consumer.kind), log::json_escape(u.consumer.name),
        u.consumer.service.empty() ? std::string("null")
                                   : fmt::format("\"{}\"", log::json_escape(u.consumer.service)),
        u.port == 0 ? "null" : std::to_string(u.port), log::json_escape(u.why));
  }
  return out + "]";
}

}  // namespace reachprobe
