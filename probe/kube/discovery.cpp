#include "probe/kube/discovery.hpp"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <random>

#include "probe/core/duration_text.hpp"
#include "probe/kube/event_stream.hpp"
#include "probe/log/logging.hpp"

namespace reachprobe::kube {

namespace asio = boost::asio;
namespace pt = boost::property_tree;

namespace {

std::string status_message(const std::string& body) {
  std::string error;
  if (auto tree = parse_json(body, error)) {
    if (auto status = parse_status(*tree)) return status->message;
  }
  return body.substr(0, 200);
}

struct Listed {
  DiscoveredSet set;
  std::string resource_version;
};

asio::awaitable<std::variant<Listed, ApiFailure>> list_source(
    ApiClient& client, const SourceKey& key, Duration connect_timeout, Duration idle_timeout,
    Duration lifetime, std::shared_ptr<Cancellation> cancellation, bool& cancelled) {
  std::string body;
  bool too_large = false;
  auto on_body = [&body, &too_large](std::string_view bytes) {
    if (body.size() + bytes.size() > kMaxObjectBytes) {
      too_large = true;
      return false;
    }
    body.append(bytes);
    return true;
  };
  const ExchangeLimits limits{connect_timeout, [idle_timeout] { return idle_timeout; }, lifetime};
  // Named locals, not temporaries in the co_await: GCC 12 destroys such temporaries twice.
  const std::string path = key.list_path();
  const std::function<bool(std::string_view)> sink = on_body;
  auto response = co_await client.get(path, limits, sink, cancellation);
  cancelled = response.cancelled;
  if (too_large) {
    co_return ApiFailure{ErrorReason::TooLarge,
                         "the list of " + key.to_string() + " is over 16 MiB (the limit)"};
  }
  if (response.failure) co_return *response.failure;
  if (response.status == 0) co_return ApiFailure{ErrorReason::Connect, "no response"};
  if (response.status < 200 || response.status >= 300) {
    co_return failure_for_status(response.status, response.error_body, key, "list");
  }
  if (response.ended_by_lifetime) {
    co_return ApiFailure{ErrorReason::Stream,
                         "the list did not end within " + format_latency(lifetime)};
  }
  std::string error;
  auto tree = parse_json(body, error);
  if (!tree)
    co_return ApiFailure{ErrorReason::Malformed, "list of " + key.to_string() + ": " + error};
  auto parsed = parse_list(*tree, key.resource);
  if (auto* problem = std::get_if<std::string>(&parsed)) {
    co_return ApiFailure{ErrorReason::Malformed, "list of " + key.to_string() + ": " + *problem};
  }
  auto& list = std::get<ParsedList>(parsed);
  Listed listed;
  listed.set.objects = std::move(list.objects);
  listed.resource_version = std::move(list.resource_version);
  co_return listed;
}

}  // namespace

ApiFailure failure_for_status(int status, const std::string& body, const SourceKey& key,
                              std::string_view verb) {
  const std::string said = status_message(body);
  switch (status) {
    case 401:
      return {ErrorReason::Unauthorized,
              "the API server refused the service-account token (401): check "
              "kubernetes.token_file"};
    case 403:
      if (cluster_scoped(key.resource)) {
        return {ErrorReason::Forbidden,
                fmt::format("forbidden (403): the service account needs RBAC `{}` on `{}` "
                            "cluster-wide (a ClusterRole and its ClusterRoleBinding)",
                            verb, key.rbac_resource())};
      }
      return {ErrorReason::Forbidden,
              fmt::format("forbidden (403): the service account needs RBAC `{}` on `{}` in "
                          "namespace {}",
                          verb, key.rbac_resource(), key.namespace_name)};
    case 404:
      return {ErrorReason::NotFound,
              fmt::format("not found (404) on {} {}: {}", verb, key.to_string(), said)};
    case 410:
      return {ErrorReason::Gone, fmt::format("gone (410): the resourceVersion of {} is too old: {}",
                                             key.to_string(), said)};
    default:
      return {ErrorReason::Http,
              fmt::format("HTTP {} on {} {}: {}", status, verb, key.to_string(), said)};
  }
}

asio::awaitable<std::variant<DiscoveredSet, ApiFailure>> list_once(ApiClient& client,
                                                                   const SourceKey& key,
                                                                   Duration timeout) {
  bool cancelled = false;
  const auto never_cancelled = std::make_shared<Cancellation>();
  auto listed =
      co_await list_source(client, key, timeout, timeout, timeout, never_cancelled, cancelled);
  if (auto* failure = std::get_if<ApiFailure>(&listed)) co_return *failure;
  co_return std::move(std::get<Listed>(listed).set);
}

struct Discovery::Metrics {
  explicit Metrics(prometheus::Registry& registry)
      : up(prometheus::BuildGauge()
               .Name("reachprobe_discovery_up")
               .Help("1 while the last list or watch of the source succeeded, 0 after an error")
               .Register(registry)),
        last_success(prometheus::BuildGauge()
                         .Name("reachprobe_discovery_last_success_timestamp_seconds")
                         .Help("When a list or watch of the source last succeeded (unix seconds)")
                         .Register(registry)),
        errors(prometheus::BuildCounter()
                   .Name("reachprobe_discovery_errors_total")
                   .Help("Failed lists and watches of the source, by reason")
                   .Register(registry)),
        addresses(prometheus::BuildGauge()
                      .Name("reachprobe_discovery_addresses")
                      .Help("Addresses the source names now (the last good set)")
                      .Register(registry)),
        absent(prometheus::BuildGauge()
                   .Name("reachprobe_discovery_absent")
                   .Help("1 while the source names no object (the Service does not exist, or "
                         "the API server answered 404): an answer, not a discovery failure")
                   .Register(registry)) {}
  prometheus::Family<prometheus::Gauge>& up;
  prometheus::Family<prometheus::Gauge>& last_success;
  prometheus::Family<prometheus::Counter>& errors;
  prometheus::Family<prometheus::Gauge>& addresses;
  prometheus::Family<prometheus::Gauge>& absent;
};

struct Discovery::Source {
  Source(asio::io_context& io, SourceKey k) : key(std::move(k)), timer(io) {}
  SourceKey key;
  std::optional<DiscoveredSet> set;
  bool stopped = false;
  bool up = false;
  bool failing = false;  // as last logged
  bool ever_up = false;
  bool absent = false;  // as last logged
  std::map<ErrorReason, std::uint64_t> errors;
  std::string last_error;
  std::shared_ptr<ApiClient> client;
  std::shared_ptr<Cancellation> cancellation = std::make_shared<Cancellation>();
  asio::steady_timer timer;
  std::minstd_rand random{std::random_device{}()};

  prometheus::Gauge* up_gauge = nullptr;
  prometheus::Gauge* last_success_gauge = nullptr;
  prometheus::Gauge* addresses_gauge = nullptr;
  prometheus::Gauge* absent_gauge = nullptr;
  std::map<ErrorReason, prometheus::Counter*> error_counters;

  void interrupt() {
    cancellation->cancel();
    timer.cancel();
  }
};

Discovery::Discovery(asio::io_context& io, std::shared_ptr<dns::Resolver> resolver,
                     KubernetesApi api, prometheus::Registry* registry, DiscoveryOptions options)
    : io_(io),
      resolver_(std::move(resolver)),
      api_(std::move(api)),
      client_(std::make_shared<ApiClient>(resolver_, api_)),
      options_(options) {
  if (registry) metrics_ = std::make_unique<Metrics>(*registry);
}

Discovery::~Discovery() { stop(); }

void Discovery::stop() {
  for (auto& [key, source] : sources_) {
    source->stopped = true;
    source->interrupt();
  }
  std::set<SourceKey> none;
  set_sources(none);
}

void Discovery::set_sources(const std::set<SourceKey>& wanted) {
  for (auto it = sources_.begin(); it != sources_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    Source& source = *it->second;
    source.stopped = true;
    source.interrupt();
    if (metrics_) {
      metrics_->up.Remove(source.up_gauge);
      metrics_->last_success.Remove(source.last_success_gauge);
      metrics_->addresses.Remove(source.addresses_gauge);
      metrics_->absent.Remove(source.absent_gauge);
      for (auto& [reason, counter] : source.error_counters) metrics_->errors.Remove(counter);
    }
    it = sources_.erase(it);
  }
  for (const auto& key : wanted) {
    if (!sources_.count(key)) start(key);
  }
}

void Discovery::set_api(KubernetesApi api) {
  if (api == api_) return;
  api_ = std::move(api);
  client_ = std::make_shared<ApiClient>(resolver_, api_);
  // Each loop sees its exchange cancelled while not stopped, and starts over with the new
  // client; the set it has stays meanwhile.
  for (auto& [key, source] : sources_) {
    source->client = client_;
    auto old = source->cancellation;
    source->cancellation = std::make_shared<Cancellation>();
    old->cancel();
    source->timer.cancel();
  }
}

void Discovery::start(const SourceKey& key) {
  auto source = std::make_shared<Source>(io_, key);
  source->client = client_;
  if (metrics_) {
    const prometheus::Labels labels{{"source", key.to_string()}};
    source->up_gauge = &metrics_->up.Add(labels);
    source->last_success_gauge = &metrics_->last_success.Add(labels);
    source->addresses_gauge = &metrics_->addresses.Add(labels);
    source->absent_gauge = &metrics_->absent.Add(labels);
    // Every reason from the start: increase() sees the first error of each.
    for (ErrorReason reason : kAllErrorReasons) {
      source->error_counters[reason] = &metrics_->errors.Add(
          {{"source", key.to_string()}, {"reason", std::string(to_string(reason))}});
    }
  }
  sources_.emplace(key, source);
  asio::co_spawn(io_, run(source), [key](const std::exception_ptr& e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::event(spdlog::level::err, "discovery stopped by an internal error",
                 {{"source", key.to_string()}, {"error", ex.what()}});
    }
  });
}

const DiscoveredSet* Discovery::set(const SourceKey& key) const {
  auto it = sources_.find(key);
  if (it == sources_.end() || !it->second->set) return nullptr;
  return &*it->second->set;
}

std::optional<SourceStatus> Discovery::status(const SourceKey& key) const {
  auto it = sources_.find(key);
  if (it == sources_.end()) return std::nullopt;
  const Source& s = *it->second;
  SourceStatus status;
  status.listed = s.set.has_value();
  status.up = s.up;
  status.addresses = s.set ? s.set->address_count() : 0;
  status.absent = s.absent;
  status.errors = s.errors;
  status.last_error = s.last_error;
  return status;
}

void Discovery::succeeded(Source& source) {
  source.up = true;
  if (source.up_gauge) {
    source.up_gauge->Set(1);
    source.last_success_gauge->Set(
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  }
  if (source.failing || !source.ever_up) {
    log::event(spdlog::level::info,
               source.ever_up ? "discovery source recovered" : "discovery source listed",
               {{"source", source.key.to_string()},
                {"addresses", std::to_string(source.set ? source.set->address_count() : 0)}});
  }
  source.failing = false;
  source.ever_up = true;
}

void Discovery::set_absent(Source& source, bool absent, std::string_view why) {
  if (source.absent_gauge) source.absent_gauge->Set(absent ? 1 : 0);
  if (absent == source.absent) return;
  source.absent = absent;
  // Once per change, not per list or retry: a Service nobody installed is a state.
  if (absent) {
    log::event(spdlog::level::info, "discovery source names no object (absent)",
               {{"source", source.key.to_string()}, {"why", why}});
  } else {
    log::event(spdlog::level::info, "discovery source present again",
               {{"source", source.key.to_string()}});
  }
}

void Discovery::failed(Source& source, const ApiFailure& failure) {
  ++source.errors[failure.reason];
  source.last_error = failure.message;
  if (auto it = source.error_counters.find(failure.reason); it != source.error_counters.end()) {
    it->second->Increment();
  }
  // 404 is the API server's answer that the thing is not there: absent, not failing (the
  // discovery alert must not fire forever for a Service nobody installed). Still retried,
  // at the backoff's pace, to see it appear.
  if (failure.reason == ErrorReason::NotFound) {
    source.up = true;
    if (source.up_gauge) source.up_gauge->Set(1);
    set_absent(source, true, failure.message);
    if (!source.set) publish(source, DiscoveredSet{});
    source.failing = false;
    return;
  }
  // An expired resourceVersion is routine (the server compacted its history): counted,
  // re-listed, but the source is not failing.
  if (failure.reason == ErrorReason::Gone) return;
  source.up = false;
  if (source.up_gauge) source.up_gauge->Set(0);
  if (!source.failing) {
    log::event(spdlog::level::warn, "discovery source failing, keeping its last known addresses",
               {{"source", source.key.to_string()},
                {"reason", to_string(failure.reason)},
                {"error", failure.message},
                {"addresses", std::to_string(source.set ? source.set->address_count() : 0)}});
  }
  source.failing = true;
}

void Discovery::publish(Source& source, DiscoveredSet set) {
  if (source.stopped) return;
  set_absent(source, set.objects.empty(), "the list found no object");
  if (source.set && *source.set == set) return;
  source.set = std::move(set);
  if (source.addresses_gauge) {
    source.addresses_gauge->Set(static_cast<double>(source.set->address_count()));
  }
  if (on_change_) on_change_(source.key);
}

asio::awaitable<void> Discovery::run(std::shared_ptr<Source> source) {
  // Copied: after a suspension `this` is only touched once `source->stopped` is known false
  // (the Discovery stops its sources before it goes).
  const DiscoveryOptions options = options_;
  Duration backoff = options.initial_backoff;
  auto sleep = [&source](Duration wait) -> asio::awaitable<void> {
    source->timer.expires_after(wait);
    boost::system::error_code ignored;
    co_await source->timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  };
  auto jittered = [&source](Duration d) {
    std::uniform_int_distribution<Duration::rep> pick(d.count() / 2, d.count());
    return Duration(pick(source->random));
  };
  auto back_off = [&]() -> asio::awaitable<void> {
    co_await sleep(jittered(backoff));
    backoff = std::min(backoff * 2, options.max_backoff);
  };

  while (!source->stopped) {
    auto client = source->client;
    auto cancellation = source->cancellation;
    bool cancelled = false;
    const Duration list_lifetime = options.connect_timeout + std::chrono::seconds(60);
    auto listed =
        co_await list_source(*client, source->key, options.connect_timeout,
                             options.read_idle_timeout, list_lifetime, cancellation, cancelled);
    if (source->stopped) co_return;
    if (cancelled) continue;
    if (auto* failure = std::get_if<ApiFailure>(&listed)) {
      failed(*source, *failure);
      co_await back_off();
      continue;
    }
    auto& list = std::get<Listed>(listed);
    std::string resource_version = std::move(list.resource_version);
    publish(*source, std::move(list.set));
    succeeded(*source);

    // Watch from the list's resourceVersion until something requires a new list.
    while (!source->stopped) {
      std::uniform_int_distribution<long> spread(0, options.watch_timeout.count() / 5);
      const std::chrono::seconds timeout =
          options.watch_timeout + std::chrono::seconds(spread(source->random));
      const std::string list_path = source->key.list_path();
      const std::string path =
          list_path + (list_path.find('?') == std::string::npos ? "?" : "&") +
          "watch=1&allowWatchBookmarks=true&resourceVersion=" + resource_version +
          "&timeoutSeconds=" + std::to_string(timeout.count());
      WatchEventParser parser;
      std::vector<WatchEvent> events;
      DiscoveredSet working = source->set.value_or(DiscoveredSet{});
      std::optional<ApiFailure> problem;
      auto on_body = [&](std::string_view bytes) {
        if (source->stopped) return false;
        events.clear();
        const auto status = parser.feed(bytes, events);
        bool changed = false;
        for (auto& event : events) {
          if (event.type == EventType::Error) {
            auto status_object = parse_status(event.object);
            if (status_object && status_object->code == 410) {
              problem = ApiFailure{ErrorReason::Gone, "gone (410) in the watch of " +
                                                          source->key.to_string() + ": " +
                                                          status_object->message};
            } else {
              problem = ApiFailure{ErrorReason::Stream,
                                   "ERROR event in the watch of " + source->key.to_string() + ": " +
                                       (status_object ? status_object->message : "no Status")};
            }
            break;
          }
          if (event.type == EventType::Bookmark) {
            if (auto rv = event.object.get_optional<std::string>("metadata.resourceVersion")) {
              resource_version = *rv;
            }
            continue;
          }
          auto parsed = parse_object(event.object, source->key.resource);
          if (auto* error = std::get_if<std::string>(&parsed)) {
            problem = ApiFailure{ErrorReason::Malformed,
                                 "watch of " + source->key.to_string() + ": " + *error};
            break;
          }
          auto& object = std::get<ParsedObject>(parsed);
          if (!object.resource_version.empty()) resource_version = object.resource_version;
          if (event.type == EventType::Deleted) {
            changed = working.objects.erase(object.name) > 0 || changed;
          } else {
            working.objects[object.name] = std::move(object.group);
            changed = true;
          }
        }
        // Applied even when the stream broke after them: each event stood on its own.
        if (changed) publish(*source, working);
        if (problem) return false;
        if (status == WatchEventParser::Status::TooLarge) {
          problem = ApiFailure{ErrorReason::TooLarge,
                               "watch of " + source->key.to_string() + ": " + parser.error()};
          return false;
        }
        if (status == WatchEventParser::Status::Malformed) {
          problem = ApiFailure{ErrorReason::Malformed,
                               "watch of " + source->key.to_string() + ": " + parser.error()};
          return false;
        }
        return true;
      };
      const Duration between_events = timeout + std::chrono::seconds(30);
      const Duration within_event = options.read_idle_timeout;
      ExchangeLimits limits{options.connect_timeout,
                            [&parser, between_events, within_event] {
                              return parser.mid_event() ? within_event : between_events;
                            },
                            between_events};
      const auto started = Clock::now();
      const std::function<bool(std::string_view)> sink = on_body;
      auto response = co_await client->get(path, limits, sink, cancellation);
      if (source->stopped) co_return;
      if (response.cancelled || cancellation->cancelled()) break;
      if (!problem) {
        if (response.failure) {
          problem = response.failure;
        } else if (response.status < 200 || response.status >= 300) {
          problem = failure_for_status(response.status, response.error_body, source->key, "watch");
        } else if (parser.mid_event()) {
          problem = ApiFailure{ErrorReason::Stream, "the watch of " + source->key.to_string() +
                                                        " ended in the middle of an event"};
        }
      }
      if (!problem) {
        // The server ended the watch at its timeout: a success, watch on. One that ends at
        // once (a proxy in between, a broken server) must not turn this into a busy loop.
        succeeded(*source);
        backoff = options.initial_backoff;
        if (Clock::now() - started < std::chrono::seconds(1)) {
          co_await sleep(jittered(options.initial_backoff));
        }
        continue;
      }
      failed(*source, *problem);
      // A watch that ran a while was a success too: the next failure starts the backoff anew.
      if (Clock::now() - started > std::chrono::seconds(30)) backoff = options.initial_backoff;
      if (problem->reason == ErrorReason::Gone) {
        backoff = options.initial_backoff;
        co_await sleep(jittered(options.initial_backoff));
      } else {
        co_await back_off();
      }
      break;  // re-list
    }
  }
}

}  // namespace reachprobe::kube
