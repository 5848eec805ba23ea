#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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
  // Addresses the dialer refuses, as EKS's control plane does for a pod network it has no
  // route into (an overlay CNI): the proxy and log requests to such an IP fail with
  // "Address is not allowed", no packet sent. Empty: every address may be dialed.
  std::function<bool(const std::string& ip)> dial_allowed;
  // How long the proxy waits for the pod's response headers once connected (Go's
  // Client.Timeout): past it, "net/http: request canceled (Client.Timeout exceeded while
  // awaiting headers)".
  std::chrono::milliseconds response_header_timeout{10000};
  // The request's own deadline over dial and response (0: none): past it, whether the
  // connection was set up or not, newer Go says only "context deadline exceeded".
  std::chrono::milliseconds request_deadline{0};
  bool forbidden = false;  // RBAC: the token is valid, the permission missing
  // RBAC, finer: may the service account do `verb` ("get", "list", "watch") on `resource`
  // ("pods/proxy", "pods/log", "endpointslices.discovery.k8s.io", "services") in
  // `namespace_name`? Empty: everything is allowed. A no is the 403 Status kube-apiserver
  // writes, naming the verb, resource, API group and namespace.
  std::function<bool(const std::string& verb, const std::string& resource,
                     const std::string& namespace_name)>
      authorize;
  // The same with the object's name, as kube-apiserver authorizes a request (a rule's
  // resourceNames): the pod of pods/proxy and pods/log; for a list or watch, NAME of
  // fieldSelector=metadata.name=NAME, else empty. Checked as well when set.
  std::function<bool(const std::string& verb, const std::string& resource,
                     const std::string& namespace_name, const std::string& name)>
      authorize_named;
  // The service account the 403 messages name (system:serviceaccount:NS:NAME).
  std::string service_account = "reachprobe";
};

// An endpoint of a fake EndpointSlice.
struct FakeSliceEndpoint {
  std::string ip;
  std::optional<bool> ready = true;  // nullopt: no `ready` condition (unknown)
  std::string node_name;
  std::string zone;
};

struct FakePort {
  std::string name;
  std::uint16_t port = 0;
  std::string protocol = "TCP";
};

// A stand-in for kube-apiserver, for exactly the two requests reachprobe makes, doing what
// kube-apiserver does for them:
// - the bearer token is checked first: 401 and a Status "Unauthorized" (authentication);
// - then RBAC: with `forbidden`, 403 and the Status kube-apiserver writes (authorization);
// - a pod other than the configured one: 404 Status "pods ... not found";
// - GET .../pods/NAME:PORT/proxy/PATH (the pod proxy, pkg/registry/core/pod/rest): dial
//   POD_IP:PORT with a dial timeout, send GET PATH, relay the status and body; a failed
//   dial is 503 Status "error trying to reach service: dial tcp IP:PORT: <Go net error>",
//   a connection that ends without an HTTP answer the same with Go's transport text ("EOF",
//   "read tcp ...: read: connection reset by peer", "net/http: HTTP/1.x transport connection
//   broken: malformed HTTP response \"...\"");
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

  // Discovery objects, changeable at run time from any thread. Each change gets the next
  // resourceVersion and is an event (ADDED, MODIFIED, DELETED) for the watches that
  // select it. Lists and watches of EndpointSlices select by the label
  // kubernetes.io/service-name, Services by metadata.name, as reachprobe asks.
  void set_endpoint_slice(const std::string& namespace_name, const std::string& name,
                          const std::string& service, std::vector<FakeSliceEndpoint> endpoints,
                          std::vector<FakePort> ports, const std::string& address_type = "IPv4");
  void delete_endpoint_slice(const std::string& namespace_name, const std::string& name);
  // cluster_ips empty or {"None"}: a headless Service.
  void set_service(const std::string& namespace_name, const std::string& name,
                   std::vector<std::string> cluster_ips, std::vector<FakePort> ports);
  void delete_service(const std::string& namespace_name, const std::string& name);

  // The history up to now is gone (a compaction, and the resourceVersion moves on): a watch
  // from an older resourceVersion gets 410 (as an HTTP status with `gone_as_http`, else as
  // an ERROR event, as the watch cache does); a new list is fine.
  void compact(bool gone_as_http = false);
  // Every watch open now ends normally (the last chunk), as at its timeoutSeconds.
  void end_watches();
  // Every watch open now gets a BOOKMARK with the current resourceVersion.
  void bookmark();
  // Every watch open now gets `bytes` as they are (one chunk, or 1 MiB chunks if larger),
  // then the connection is closed if `then_close` (without the last chunk: a cut stream).
  void inject(std::string bytes, bool then_close = false);
  // Lists and watches answer `status` with a Status body (0: serve again).
  void fail_with(int status);
  // The API server is down: every open connection is closed, every new one reset at once
  // (the port stays bound); resume() serves again.
  void stop_serving();
  void resume();

  std::size_t open_watches() const;
  std::size_t list_count() const;  // lists and watches served with 200, so far
  std::size_t watch_count() const;

 private:
  struct Server;
  std::shared_ptr<Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace reachprobe::test
