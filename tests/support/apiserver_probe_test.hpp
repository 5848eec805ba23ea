#pragma once

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "probe/core/endpoint.hpp"
#include "probe/dns/resolver.hpp"
#include "probe/probers/kubernetes.hpp"
#include "probe/probers/prober.hpp"
#include "tests/support/fake_apiserver.hpp"
#include "tests/support/run_probe.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_pki.hpp"

namespace reachprobe::test {

// Probes that go through the API server (inbound, kubelet) against the stand-in one: its
// CA and a service-account token on disk, the settings that point a prober at it, and one
// probe of a pod IP and port run to completion.
class ApiServerProbeTest : public ::testing::Test {
 protected:
  explicit ApiServerProbeTest(const std::string& dir_prefix) : dir_(dir_prefix) {
    write_file(dir_ / "ca.crt", pki_.ca_pem());
    write_file(dir_ / "token", "reachprobe-service-account-token\n");
    resolver_ = std::make_shared<dns::Resolver>(io_, dns::ResolverOptions{});
  }

  FakeApiServerOptions apiserver_options(const std::string& listen = "127.0.0.1") {
    FakeApiServerOptions o;
    o.certificate = pki_.issue({listen});
    o.listen_address = listen;
    return o;
  }
  KubernetesApi api(const FakeApiServer& server) const {
    return KubernetesApi{server.url(), (dir_ / "token").string(), (dir_ / "ca.crt").string(),
                         "monitoring", "reachprobe-x7k2p"};
  }
  // The endpoint of an inbound ("webhook-inbound") or kubelet ("kubelet-inbound") target.
  static Endpoint endpoint(ProbeType type, const std::string& pod_ip, std::uint16_t port,
                           Duration timeout) {
    auto t = std::make_shared<Target>();
    t->name = type == ProbeType::Inbound ? "webhook-inbound" : "kubelet-inbound";
    t->type = type;
    t->hosts = {pod_ip};
    t->ports = {port};
    t->interval = std::chrono::seconds(10);
    t->timeout = timeout;
    return expand_endpoints({t}).front();
  }
  ProbeResult probe(Prober& prober, ProbeType type, const std::string& pod_ip, std::uint16_t port,
                    Duration timeout = std::chrono::seconds(3)) {
    return probe_once(io_, prober, endpoint(type, pod_ip, port, timeout));
  }

  boost::asio::io_context io_;
  TestPki pki_;
  TempDir dir_;
  std::shared_ptr<dns::Resolver> resolver_;
};

}  // namespace reachprobe::test
