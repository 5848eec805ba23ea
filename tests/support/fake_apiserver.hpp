#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_pki.hpp"

namespace reachprobe::test {

struct FakeApiServerOptions {
  TestCertificate certificate;  // for listen_address
  std::string listen_address = "127.0.0.1";
  // The network namespace (`ip netns` name) the server lives and dials in: a control plane
  // on a host of its own. Empty: the test's own namespace.
  std::string netns;
  std::string token = "reachprobe-service-account-token";
  std::string namespace_name = "monitoring";
  std::string pod_name = "reachprobe-x7k2p";
  std::string pod_ip = "127.0.0.1";
  std::uint16_t kubelet_port = 10250;  // where the pod's node's kubelet listens
  std::chrono::milliseconds dial_timeout{1000};
  bool forbidden = false;  // RBAC: the token is valid, the permission missing
};

// A stand-in for kube-apiserver, for exactly the two requests reachprobe makes, doing what
// kube-apiserver does for them:
// - the bearer token is checked first: 401 and a Status "Unauthorized" (authentication);
// - then RBAC: with `forbidden`, 403 and the Status kube-apiserver writes (authorization);
// - a pod other than the configured one: 404 Status "pods ... not found";
// - GET .../pods/NAME:PORT/proxy/PATH (the pod proxy, pkg/registry/core/pod/rest): dial
//   POD_IP:PORT with a dial timeout, send GET PATH, relay the status and body; a failed
//   dial is 503 Status "error trying to reach service: dial tcp IP:PORT: <Go net error>";
// - GET .../pods/NAME/log (the log subresource): dial the kubelet at POD_IP:kubelet_port
//   (where kube-apiserver speaks TLS to the kubelet, this stand-in only connects), answer a
//   log line; a failed dial is 500 Status `Get "https://IP:PORT/containerLogs/...": dial
//   tcp ...`.
// The Go error texts are Go's: "i/o timeout", "connect: connection refused", "connect: no
// route to host", "connect: network is unreachable".
// HTTPS on its own thread (in `netns` when set), stopped and joined by the destructor.
class FakeApiServer {
 public:
  explicit FakeApiServer(FakeApiServerOptions options);
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const;
  std::vector<std::string> requests() const;  // request targets, in order

 private:
  struct Server;
  std::shared_ptr<Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace reachprobe::test
