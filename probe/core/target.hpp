#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "probe/core/expectation.hpp"
#include "probe/core/outcome.hpp"

namespace reachprobe {

enum class ProbeType { Tcp, Dns, Tls, Http, Inbound, Kubelet };

constexpr std::string_view to_string(ProbeType type) {
  switch (type) {
    case ProbeType::Tcp:
      return "tcp";
    case ProbeType::Dns:
      return "dns";
    case ProbeType::Tls:
      return "tls";
    case ProbeType::Http:
      return "http";
    case ProbeType::Inbound:
      return "inbound";
    case ProbeType::Kubelet:
      return "kubelet";
  }
  return "tcp";
}

// Where the probes start: the node's network namespace (a host-network DaemonSet) or the
// pod network (a second DaemonSet): the `vantage` label of every series.
enum class Vantage { Node, Pod };

constexpr std::string_view to_string(Vantage vantage) {
  return vantage == Vantage::Pod ? "pod" : "node";
}

struct TlsOptions {
  std::string server_name;  // empty: the host being probed
  std::string ca_file;      // empty: the system trust store
  bool insecure_skip_verify = false;
};

// Checks a dns probe makes on its answer beyond "there is one".
struct DnsExpect {
  std::optional<std::size_t> min_answers;
  std::vector<std::string> contains;
};

// How many addresses of one answer a dns target with connect_port connects to when it has
// no max_connect: a bound against the large headless Service nobody meant to fan out to
// (1,500 addresses were 1,500 connects and series per node). Past it the node takes the
// same rendezvous choice as with max_connect. Why 64: docs/configuration.md, "Fan-out bound".
inline constexpr std::size_t kDefaultMaxConnect = 64;
// The most max_connect may say: every address is a connect per interval and some 20 series
// on every node that probes it.
inline constexpr std::size_t kMaxConnectLimit = 1000;
// Where the addresses of a target come from when the Kubernetes API names them
// (`discover:`): a Service's EndpointSlices (its backends, node to pod) or its ClusterIP
// (through kube-proxy).
enum class DiscoverAddresses { Endpoints, ClusterIp };

struct Discover {
  std::string namespace_name;
  std::string service;
  DiscoverAddresses addresses = DiscoverAddresses::Endpoints;
  std::string port;  // a port name or number; empty: the target's ports, else every one
  bool include_not_ready = false;
  bool operator==(const Discover&) const = default;
};

// Where a target was written, so later problems (e.g. at reload) can point at it.
struct SourcePosition {
  std::string path;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
};

// One configured target: plain data, already validated and with defaults applied. The
// config loader produces it; probers read the fields of their own type.
struct Target {
  std::string name;
  ProbeType type = ProbeType::Tcp;
  std::vector<std::pair<std::string, std::string>> labels;  // sorted by name
  std::chrono::nanoseconds interval{};
  std::chrono::nanoseconds timeout{};
  // `check`'s words for a failure, added to its own: `hint` for every failure, or one per
  // result (`hint: {timeout: ..., refused: ...}`).
  std::string hint;
  std::vector<std::pair<Outcome, std::string>> result_hints;
  // The target's own hint for a failure with `outcome` (empty: none).
  std::string_view hint_for(Outcome outcome) const {
    for (const auto& [result, text] : result_hints) {
      if (result == outcome) return text;
    }
    return hint;
  }
  SourcePosition position;
  // The config's top-level `vantage`, the same on every target: a label of every series,
  // and what hints blame (the node's security group or the pods').
  Vantage vantage = Vantage::Node;
  // `expect: closed`: a path that must not connect (dns: the addresses it connects to).
  Expectation expectation = Expectation::Open;

  // tcp, tls: every host x every port. inbound: ports only.
  std::vector<std::string> hosts;
  std::vector<std::uint16_t> ports;

  // tcp, tls, dns: hosts (tcp, tls) or servers (dns) taken from the Kubernetes API.
  std::optional<Discover> discover;
  bool exclude_self = false;  // skip the discovered endpoint on this node

  // inbound: also every port the cluster's webhook configurations and APIServices make the
  // control plane call (`discover: webhooks`), followed live; `ports` may add more.
  bool discover_webhooks = false;

  // dns
  std::string query;
  std::string record = "A";
  std::string server;  // "IP" or "IP:PORT"; empty: dns.servers, then the system config
  std::optional<std::uint16_t> connect_port;
  // dns: at most this many answer addresses connected to (empty: kDefaultMaxConnect);
  // tcp/tls with discover: at most this many discovered addresses probed. Chosen by
  // rendezvous hash on the node name.
  std::optional<std::size_t> max_connect;
  DnsExpect expect;
  // dns, record A: also ask AAAA, at the same moment from the same socket, as glibc's
  // resolver does (the query shape that loses replies to the conntrack race of a DNAT'd
  // DNS service: kubernetes/kubernetes#56903). Both must get a reply.
  bool parallel_aaaa = false;

  // tls, http
  std::optional<TlsOptions> tls;

  // tcp, tls: the failure hint depends on where the host resolved, inside the VPC's CIDRs
  // or outside. `aws_service`: an AWS API a node without NAT reaches through a VPC endpoint
  // ("ecr.api", "ecr.dkr", "s3", "ec2", "eks", "sts"); `cluster_endpoint`: the API server
  // name the kubelet uses, read from `kubeconfig` (the node's kubelet kubeconfig).
  std::string aws_service;
  bool cluster_endpoint = false;
  std::string kubeconfig;

  // http
  std::string url;
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<int> expect_status;  // empty: any 2xx
  std::string bearer_token_file;
  bool follow_redirects = false;
};

}  // namespace reachprobe
