// Discovery against the stand-in API server over real TLS on loopback: list, watch,
// 410, failures of every kind, and that none of them loses the last known set.
#include "probe/kube/discovery.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>

#include "tests/support/fake_apiserver.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"

namespace reachprobe::kube {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::FakeApiServer;
using test::FakeApiServerOptions;
using test::FakePort;
using test::FakeSliceEndpoint;

const SourceKey kSlices{Resource::EndpointSlices, "monitoring", "am"};
const SourceKey kService{Resource::Services, "kube-system", "kube-dns"};

class DiscoveryTest : public ::testing::Test {
 protected:
  DiscoveryTest() {
    test::write_file(dir_ / "ca.crt", pki_.ca_pem());
    test::write_file(dir_ / "token", "reachprobe-service-account-token\n");
    resolver_ = std::make_shared<dns::Resolver>(io_, dns::ResolverOptions{});
  }

  FakeApiServerOptions apiserver_options() {
    FakeApiServerOptions o;
    o.certificate = pki_.issue({"127.0.0.1"});
    return o;
  }

  KubernetesApi api(const FakeApiServer& server) const {
    return KubernetesApi{server.url(), (dir_ / "token").string(), (dir_ / "ca.crt").string(),
                         "monitoring", "reachprobe-x7k2p"};
  }

  static DiscoveryOptions fast() {
    DiscoveryOptions o;
    o.initial_backoff = 50ms;
    o.max_backoff = 200ms;
    o.connect_timeout = 2s;
    o.read_idle_timeout = 500ms;
    return o;
  }

  std::unique_ptr<Discovery> discovery(const FakeApiServer& server,
                                       DiscoveryOptions options = fast()) {
    auto d = std::make_unique<Discovery>(io_, resolver_, api(server), &registry_, options);
    d->on_change([this](const SourceKey& key) { changes_.push_back(key.to_string()); });
    return d;
  }

  // Runs the loop until `condition` holds, at most `limit`.
  bool run_until(const std::function<bool()>& condition, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (condition()) return true;
      io_.restart();
      io_.run_for(10ms);
    }
    return condition();
  }

  static std::vector<std::string> ips(const DiscoveredSet* set) {
    std::vector<std::string> out;
    if (!set) return out;
    for (const auto& [name, group] : set->objects) {
      for (const auto& a : group.addresses) out.push_back(a.ip);
    }
    return out;
  }

  double metric(const std::string& family, const std::string& source,
                const std::string& reason = "") {
    for (const auto& f : registry_.Collect()) {
      if (f.name != family) continue;
      for (const auto& m : f.metric) {
        bool match = true;
        for (const auto& l : m.label) {
          if (l.name == "source" && l.value != source) match = false;
          if (l.name == "reason" && l.value != reason) match = false;
        }
        if (!match) continue;
        return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
      }
    }
    return -1;
  }

  std::uint64_t errors(const Discovery& d, const SourceKey& key, ErrorReason reason) {
    auto status = d.status(key);
    if (!status) return 0;
    auto it = status->errors.find(reason);
    return it == status->errors.end() ? 0 : it->second;
  }

  asio::io_context io_;
  test::TestPki pki_;
  test::TempDir dir_{"discovery_test"};
  std::shared_ptr<dns::Resolver> resolver_;
  prometheus::Registry registry_;
  std::vector<std::string> changes_;
};

TEST_F(DiscoveryTest, ListsThenWatchPicksUpChanges) {
  FakeApiServer server(apiserver_options());
  server.set_endpoint_slice(
      "monitoring", "am-1", "am",
      {{"10.0.1.5", true, "node-a", "zone-a"}, {"10.0.2.6", false, "node-b", ""}},
      {{"web", 9093, "TCP"}});
  server.set_endpoint_slice("monitoring", "other-1", "other", {{"10.9.9.9", true, "", ""}}, {});
  auto d = discovery(server);
  EXPECT_EQ(d->set(kSlices), nullptr);
  d->set_sources({kSlices});
  ASSERT_TRUE(run_until([&] { return d->set(kSlices) != nullptr; }));
  EXPECT_EQ(ips(d->set(kSlices)), (std::vector<std::string>{"10.0.1.5", "10.0.2.6"}));
  const auto& group = d->set(kSlices)->objects.at("am-1");
  EXPECT_EQ(group.addresses[0].node, "node-a");
  EXPECT_FALSE(group.addresses[1].ready);
  EXPECT_EQ(group.ports[0].name, "web");
  EXPECT_EQ(metric("reachprobe_discovery_up", kSlices.to_string()), 1);
  EXPECT_EQ(metric("reachprobe_discovery_addresses", kSlices.to_string()), 2);
  EXPECT_GT(metric("reachprobe_discovery_last_success_timestamp_seconds", kSlices.to_string()),
            1.7e9);
  EXPECT_EQ(metric("reachprobe_discovery_errors_total", kSlices.to_string(), "forbidden"), 0);
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 1; }));
  // The list and watch requests are exactly those of the contract.
  const auto requests = server.requests();
  ASSERT_GE(requests.size(), 2u);
  EXPECT_EQ(requests[0],
            "/apis/discovery.k8s.io/v1/namespaces/monitoring/endpointslices?labelSelector="
            "kubernetes.io%2Fservice-name%3Dam");
  EXPECT_TRUE(
      requests[1].starts_with(requests[0] + "&watch=1&allowWatchBookmarks=true&resourceVersion="))
      << requests[1];
  EXPECT_NE(requests[1].find("&timeoutSeconds="), std::string::npos);

  const auto changes_before = changes_.size();
  server.set_endpoint_slice("monitoring", "am-2", "am", {{"10.0.3.7", true, "node-c", ""}},
                            {{"web", 9093, "TCP"}});
  ASSERT_TRUE(run_until([&] { return ips(d->set(kSlices)).size() == 3; }));
  EXPECT_GT(changes_.size(), changes_before);
  server.delete_endpoint_slice("monitoring", "am-1");
  ASSERT_TRUE(
      run_until([&] { return ips(d->set(kSlices)) == std::vector<std::string>{"10.0.3.7"}; }));
  // A bookmark changes nothing but is no error either.
  server.bookmark();
  server.set_endpoint_slice("monitoring", "other-1", "other", {{"10.9.9.8", true, "", ""}}, {});
  server.set_endpoint_slice("monitoring", "am-2", "am", {{"10.0.3.8", true, "node-c", ""}},
                            {{"web", 9093, "TCP"}});
  ASSERT_TRUE(
      run_until([&] { return ips(d->set(kSlices)) == std::vector<std::string>{"10.0.3.8"}; }));
  EXPECT_EQ(d->status(kSlices)->errors.size(), 0u);
  EXPECT_EQ(server.list_count(), 1u);
}

TEST_F(DiscoveryTest, ServicesByClusterIp) {
  FakeApiServer server(apiserver_options());
  server.set_service("kube-system", "kube-dns", {"10.100.0.10"}, {{"dns", 53, "UDP"}});
  auto d = discovery(server);
  d->set_sources({kService});
  ASSERT_TRUE(run_until([&] { return d->set(kService) != nullptr; }));
  EXPECT_EQ(ips(d->set(kService)), std::vector<std::string>{"10.100.0.10"});
  EXPECT_EQ(server.requests()[0],
            "/api/v1/namespaces/kube-system/services?fieldSelector=metadata.name%3Dkube-dns");
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 1; }));
  server.set_service("kube-system", "kube-dns", {"10.100.0.11"}, {{"dns", 53, "UDP"}});
  ASSERT_TRUE(
      run_until([&] { return ips(d->set(kService)) == std::vector<std::string>{"10.100.0.11"}; }));
}

TEST_F(DiscoveryTest, GoneRelistsWhetherAsAnErrorEventOrAnHttpStatus) {
  FakeApiServer server(apiserver_options());
  server.set_endpoint_slice("monitoring", "am-1", "am", {{"10.0.1.5", true, "", ""}}, {});
  auto d = discovery(server);
  d->set_sources({kSlices});
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 1; }));
  std::uint64_t gone = 0;
  for (bool as_http : {false, true}) {
    const auto lists = server.list_count();
    const auto watches = server.watch_count();
    // A watch ends at its timeout; meanwhile the history was compacted: the next watch,
    // from the last resourceVersion seen, is answered 410, and only a new list helps.
    server.compact(as_http);
    server.end_watches();
    ASSERT_TRUE(run_until([&] {
      return server.list_count() > lists && server.watch_count() > watches &&
             server.open_watches() == 1;
    })) << "as_http "
        << as_http;
    EXPECT_EQ(errors(*d, kSlices, ErrorReason::Gone), ++gone);
    server.set_endpoint_slice("monitoring", "am-1", "am", {{"10.0.1.6", true, "", ""}}, {});
    ASSERT_TRUE(
        run_until([&] { return ips(d->set(kSlices)) == std::vector<std::string>{"10.0.1.6"}; }));
    server.set_endpoint_slice("monitoring", "am-1", "am", {{"10.0.1.5", true, "", ""}}, {});
    ASSERT_TRUE(
        run_until([&] { return ips(d->set(kSlices)) == std::vector<std::string>{"10.0.1.5"}; }));
  }
  // A normal end of a watch is no error: it watches on from where it was.
  const auto lists = server.list_count();
  const auto watches = server.watch_count();
  server.end_watches();
  ASSERT_TRUE(
      run_until([&] { return server.watch_count() > watches && server.open_watches() == 1; }));
  EXPECT_EQ(server.list_count(), lists);
  EXPECT_EQ(metric("reachprobe_discovery_up", kSlices.to_string()), 1);
  EXPECT_EQ(d->status(kSlices)->errors.size(), 1u);  // gone only
}

TEST_F(DiscoveryTest, TheApiServerDownKeepsTheSetAndCountsErrors) {
  FakeApiServer server(apiserver_options());
  server.set_endpoint_slice("monitoring", "am-1", "am", {{"10.0.1.5", true, "", ""}}, {});
  auto d = discovery(server);
  d->set_sources({kSlices});
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 1; }));
  server.stop_serving();
  ASSERT_TRUE(run_until([&] { return errors(*d, kSlices, ErrorReason::Connect) >= 2; }));
  EXPECT_EQ(ips(d->set(kSlices)), std::vector<std::string>{"10.0.1.5"});
  EXPECT_FALSE(d->status(kSlices)->up);
  EXPECT_EQ(metric("reachprobe_discovery_up", kSlices.to_string()), 0);
  EXPECT_EQ(metric("reachprobe_discovery_addresses", kSlices.to_string()), 1);
  EXPECT_GE(metric("reachprobe_discovery_errors_total", kSlices.to_string(), "connect"), 2);
  changes_.clear();
  // Back, with a change made meanwhile.
  server.set_endpoint_slice("monitoring", "am-1", "am", {{"10.0.1.7", true, "", ""}}, {});
  server.resume();
  ASSERT_TRUE(
      run_until([&] { return ips(d->set(kSlices)) == std::vector<std::string>{"10.0.1.7"}; }));
  EXPECT_TRUE(d->status(kSlices)->up);
  EXPECT_EQ(changes_.size(), 1u);
}

TEST_F(DiscoveryTest, Http500AndForbiddenKeepTheSetAndSayWhatIsMissing) {
  auto options = apiserver_options();
  std::atomic<bool> allow_watch{true};
  options.authorize = [&allow_watch](const std::string& verb, const std::string& resource,
                                     const std::string& ns) {
    return resource == "endpointslices.discovery.k8s.io" && ns == "monitoring" &&
           (verb == "list" || allow_watch);
  };
  FakeApiServer server(options);
  server.set_endpoint_slice("monitoring", "am-1", "am", {{"10.0.1.5", true, "", ""}}, {});
  auto d = discovery(server);
  d->set_sources({kSlices, kService});
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 1; }));
  ASSERT_TRUE(run_until([&] { return errors(*d, kService, ErrorReason::Forbidden) >= 1; }));
  EXPECT_EQ(d->status(kService)->last_error,
            "forbidden (403): the service account needs RBAC `list` on `services` in namespace "
            "kube-system");
  EXPECT_EQ(d->set(kService), nullptr);  // never listed: no set, no endpoints

  allow_watch = false;
  server.inject("", true);
  ASSERT_TRUE(run_until([&] { return errors(*d, kSlices, ErrorReason::Forbidden) >= 1; }));
  EXPECT_EQ(d->status(kSlices)->last_error,
            "forbidden (403): the service account needs RBAC `watch` on "
            "`endpointslices.discovery.k8s.io` in namespace monitoring");
  EXPECT_EQ(ips(d->set(kSlices)), std::vector<std::string>{"10.0.1.5"});

  server.fail_with(500);
  ASSERT_TRUE(run_until([&] { return errors(*d, kSlices, ErrorReason::Http) >= 1; }));
  EXPECT_NE(d->status(kSlices)->last_error.find("HTTP 500"), std::string::npos)
      << d->status(kSlices)->last_error;
  EXPECT_EQ(ips(d->set(kSlices)), std::vector<std::string>{"10.0.1.5"});
}

TEST_F(DiscoveryTest, BrokenStreamsAreCountedAndRecoveredFrom) {
  FakeApiServer server(apiserver_options());
  server.set_endpoint_slice("monitoring", "am-1", "am", {{"10.0.1.5", true, "", ""}}, {});
  auto d = discovery(server);
  d->set_sources({kSlices});
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 1; }));

  // Cut in the middle of an event.
  server.inject(R"({"type":"ADDED","object":{"kind":"EndpointSl)", true);
  ASSERT_TRUE(run_until([&] { return errors(*d, kSlices, ErrorReason::Stream) >= 1; }));
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 1 && d->status(kSlices)->up; }));

  // Not JSON.
  server.inject("garbage that is no JSON\n");
  ASSERT_TRUE(run_until([&] { return errors(*d, kSlices, ErrorReason::Malformed) >= 1; }));
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 1 && d->status(kSlices)->up; }));

  // JSON, but not an EndpointSlice.
  server.inject(R"({"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"p"}}})"
                "\n");
  ASSERT_TRUE(run_until([&] { return errors(*d, kSlices, ErrorReason::Malformed) >= 2; }));
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 1 && d->status(kSlices)->up; }));

  // An event begun and never ended: bounded by the idle time within an event.
  const auto started = std::chrono::steady_clock::now();
  server.inject(R"({"type":"MODIFIED","object":{)");
  ASSERT_TRUE(run_until([&] { return errors(*d, kSlices, ErrorReason::Stream) >= 2; }, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 1 && d->status(kSlices)->up; }));

  // An ERROR event that is not 410.
  server.inject(
      R"({"type":"ERROR","object":{"kind":"Status","code":500,"message":"internal error"}})"
      "\n");
  ASSERT_TRUE(run_until([&] { return errors(*d, kSlices, ErrorReason::Stream) >= 3; }));
  EXPECT_NE(d->status(kSlices)->last_error.find("internal error"), std::string::npos);

  EXPECT_EQ(ips(d->set(kSlices)), std::vector<std::string>{"10.0.1.5"});
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 1 && d->status(kSlices)->up; }));
}

TEST_F(DiscoveryTest, AnEventOver16MiBIsTooLarge) {
  FakeApiServer server(apiserver_options());
  server.set_endpoint_slice("monitoring", "am-1", "am", {{"10.0.1.5", true, "", ""}}, {});
  auto d = discovery(server);
  d->set_sources({kSlices});
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 1; }));
  std::string huge = R"({"type":"ADDED","object":{"metadata":{"name":")";
  huge.append(17u << 20, 'x').append("\"}}}\n");
  server.inject(std::move(huge));
  ASSERT_TRUE(run_until([&] { return errors(*d, kSlices, ErrorReason::TooLarge) >= 1; }, 20s));
  EXPECT_EQ(ips(d->set(kSlices)), std::vector<std::string>{"10.0.1.5"});
}

TEST_F(DiscoveryTest, OneWatchPerSourceAndRemovedSourcesStop) {
  FakeApiServer server(apiserver_options());
  server.set_endpoint_slice("monitoring", "am-1", "am", {{"10.0.1.5", true, "", ""}}, {});
  server.set_service("kube-system", "kube-dns", {"10.100.0.10"}, {});
  auto d = discovery(server);
  d->set_sources({kSlices, kService});
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 2; }));
  d->set_sources({kSlices, kService});
  d->set_sources({kService});
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 1; }));
  EXPECT_EQ(d->set(kSlices), nullptr);
  EXPECT_EQ(metric("reachprobe_discovery_up", kSlices.to_string()), -1);  // series gone
  EXPECT_EQ(server.list_count(), 2u);
  d->stop();
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 0; }));
}

TEST_F(DiscoveryTest, ListOnceForCheck) {
  auto options = apiserver_options();
  options.authorize = [](const std::string&, const std::string& resource, const std::string&) {
    return resource != "services";
  };
  FakeApiServer server(options);
  server.set_endpoint_slice("monitoring", "am-1", "am", {{"10.0.1.5", true, "", ""}}, {});
  ApiClient client(resolver_, api(server));
  std::optional<std::variant<DiscoveredSet, ApiFailure>> slices, services;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        slices = co_await list_once(client, kSlices, 2s);
        services = co_await list_once(client, kService, 2s);
      },
      asio::detached);
  ASSERT_TRUE(run_until([&] { return services.has_value(); }));
  ASSERT_TRUE(std::holds_alternative<DiscoveredSet>(*slices));
  EXPECT_EQ(ips(&std::get<DiscoveredSet>(*slices)), std::vector<std::string>{"10.0.1.5"});
  ASSERT_TRUE(std::holds_alternative<ApiFailure>(*services));
  EXPECT_EQ(std::get<ApiFailure>(*services).message,
            "forbidden (403): the service account needs RBAC `list` on `services` in namespace "
            "kube-system");
  EXPECT_EQ(server.watch_count(), 0u);
}

}  // namespace
}  // namespace reachprobe::kube

namespace reachprobe::kube {
namespace {

// A Service nobody installed is an answer, not a failure: absent, up, and said once.
TEST_F(DiscoveryTest, AServiceThatDoesNotExistIsAbsentNotFailing) {
  FakeApiServer server(apiserver_options());
  auto d = discovery(server);
  d->set_sources({kService});
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 1; }));
  EXPECT_TRUE(d->status(kService)->up);
  EXPECT_TRUE(d->status(kService)->absent);
  EXPECT_EQ(metric("reachprobe_discovery_absent", kService.to_string()), 1);
  EXPECT_EQ(metric("reachprobe_discovery_up", kService.to_string()), 1);
  server.set_service("kube-system", "kube-dns", {"10.100.0.10"}, {{"dns", 53, "UDP"}});
  ASSERT_TRUE(run_until([&] { return !d->status(kService)->absent; }));
  EXPECT_EQ(metric("reachprobe_discovery_absent", kService.to_string()), 0);
  server.delete_service("kube-system", "kube-dns");
  ASSERT_TRUE(run_until([&] { return d->status(kService)->absent; }));

  // The API server answering 404 (a collection it does not serve): absent as well, and
  // `up`, so the discovery alert (up == 0 for 10 minutes) does not fire for it.
  server.fail_with(404);
  server.inject("", true);
  ASSERT_TRUE(run_until([&] { return errors(*d, kService, ErrorReason::NotFound) >= 2; }));
  EXPECT_TRUE(d->status(kService)->up);
  EXPECT_TRUE(d->status(kService)->absent);
  EXPECT_EQ(metric("reachprobe_discovery_up", kService.to_string()), 1);
  EXPECT_EQ(metric("reachprobe_discovery_errors_total", kService.to_string(), "not_found"),
            static_cast<double>(errors(*d, kService, ErrorReason::NotFound)));
}

TEST_F(DiscoveryTest, ClusterScopedWebhookConfigurationsAreListedAndWatched) {
  auto options = apiserver_options();
  std::atomic<bool> allowed{true};
  options.authorize = [&allowed](const std::string& verb, const std::string& resource,
                                 const std::string& ns) {
    return allowed || !(ns.empty() &&
                        resource ==
                            "mutatingwebhookconfigurations."
                            "admissionregistration.k8s.io" &&
                        verb == "list");
  };
  FakeApiServer server(options);
  server.set_webhook_configuration(
      true, "istio-sidecar-injector",
      {{"sidecar-injector.istio.io", "istio-system", "istiod", 443, "/inject", ""}});
  const SourceKey mutating{Resource::MutatingWebhookConfigurations, "", ""};
  const SourceKey apiservices{Resource::ApiServices, "", ""};
  auto d = discovery(server);
  d->set_sources({mutating, apiservices});
  ASSERT_TRUE(run_until([&] { return server.open_watches() == 2; }));
  ASSERT_NE(d->set(mutating), nullptr);
  const auto& refs = d->set(mutating)->objects.at("istio-sidecar-injector").references;
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0],
            (ServiceReference{"sidecar-injector.istio.io", "istio-system", "istiod", 443, ""}));
  // A new one arrives through the watch; no port given is the API's 443.
  server.set_api_service("v1beta1.metrics.k8s.io", "kube-system", "metrics-server", std::nullopt);
  ASSERT_TRUE(
      run_until([&] { return d->set(apiservices) && !d->set(apiservices)->objects.empty(); }));
  EXPECT_EQ(d->set(apiservices)->objects.at("v1beta1.metrics.k8s.io").references.at(0).port, 443);

  // RBAC removed: a ClusterRole is what is missing, and the last set is kept.
  allowed = false;
  server.inject("", true);
  ASSERT_TRUE(run_until([&] { return errors(*d, mutating, ErrorReason::Forbidden) >= 1; }));
  EXPECT_EQ(d->status(mutating)->last_error,
            "forbidden (403): the service account needs RBAC `list` on "
            "`mutatingwebhookconfigurations.admissionregistration.k8s.io` cluster-wide (a "
            "ClusterRole and its ClusterRoleBinding)");
  EXPECT_EQ(d->set(mutating)->objects.size(), 1u);
}

}  // namespace
}  // namespace reachprobe::kube
