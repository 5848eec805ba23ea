#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>

#include "probe/kube/api_client.hpp"
#include "probe/kube/objects.hpp"

namespace reachprobe::kube {

struct DiscoveryOptions {
  // Reconnect backoff: doubles from `initial_backoff` to `max_backoff`, each wait drawn
  // from [half, all] of it (jitter, so that nodes restarted together do not retry together).
  Duration initial_backoff = std::chrono::seconds(1);
  Duration max_backoff = std::chrono::seconds(60);
  // A watch asks the server to end it after this, plus up to 20 % jitter (client-go's
  // reflector does the same), so no connection lives forever behind a load balancer.
  std::chrono::seconds watch_timeout{300};
  Duration connect_timeout = std::chrono::seconds(10);
  // Within a list body or a watch event data must flow; between events a watch is silent
  // until the server's timeout, after which the connection is dropped anyway.
  Duration read_idle_timeout = std::chrono::seconds(30);
};

struct SourceStatus {
  bool listed = false;  // a list succeeded once: `set` is the source's
  bool up = false;
  std::size_t addresses = 0;
  // The source names no object: its list found none (the Service does not exist) or the
  // API server said 404. An answer, not a failure: `up` stays true.
  bool absent = false;
  std::map<ErrorReason, std::uint64_t> errors;
  std::string last_error;
};

// The list+watch of every source the targets need, on the event loop, as client-go's
// reflector does it: list, watch from the list's resourceVersion (bookmarks on), re-list
// on 410 Gone or an ERROR event, reconnect with capped exponential backoff and jitter. A
// failure never drops the last good set. One watch per source however many targets use it.
class Discovery {
 public:
  // Called on the event loop when a source's set changed (never for a failure).
  using ChangeCallback = std::function<void(const SourceKey&)>;

  // `registry` gets the reachprobe_discovery_* families (nullptr: none).
  Discovery(boost::asio::io_context& io, std::shared_ptr<dns::Resolver> resolver, KubernetesApi api,
            prometheus::Registry* registry, DiscoveryOptions options = {});
  ~Discovery();
  Discovery(const Discovery&) = delete;
  Discovery& operator=(const Discovery&) = delete;

  void on_change(ChangeCallback callback) { on_change_ = std::move(callback); }
  // Watches exactly `sources` from now on: new ones start, missing ones stop and lose their
  // series, the others go on untouched.
  void set_sources(const std::set<SourceKey>& sources);
  // Other credentials or API server: every watch starts over (keeping its set meanwhile).
  void set_api(KubernetesApi api);
  const KubernetesApi& api() const { return api_; }
  void stop();

  // The set of a source, or nullptr before its first successful list.
  const DiscoveredSet* set(const SourceKey& key) const;
  std::optional<SourceStatus> status(const SourceKey& key) const;

 private:
  struct Source;
  struct Metrics;
  boost::asio::awaitable<void> run(std::shared_ptr<Source> source);
  void start(const SourceKey& key);
  void succeeded(Source& source);
  void failed(Source& source, const ApiFailure& failure);
  void publish(Source& source, DiscoveredSet set);
  void set_absent(Source& source, bool absent, std::string_view why);

  boost::asio::io_context& io_;
  std::shared_ptr<dns::Resolver> resolver_;
  KubernetesApi api_;
  std::shared_ptr<ApiClient> client_;
  DiscoveryOptions options_;
  std::unique_ptr<Metrics> metrics_;
  std::map<SourceKey, std::shared_ptr<Source>> sources_;
  ChangeCallback on_change_;
};

// One list of a source, no watch (`check`): its set, or why there is none. The message of
// a 403 names the verb, the resource and the namespace the Role lacks.
boost::asio::awaitable<std::variant<DiscoveredSet, ApiFailure>> list_once(ApiClient& client,
                                                                          const SourceKey& key,
                                                                          Duration timeout);

// The failure an HTTP error status stands for (`verb` is "list" or "watch").
ApiFailure failure_for_status(int status, const std::string& body, const SourceKey& key,
                              std::string_view verb);

}  // namespace reachprobe::kube
