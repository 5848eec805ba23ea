#include "probe/check/hints.hpp"

#include <fmt/format.h>

#include "probe/check/location_hints.hpp"
#include "probe/core/node_name.hpp"
#include "probe/core/url.hpp"
#include "probe/probers/tls_reasons.hpp"

namespace reachprobe {

namespace {

std::string known_cause(const Endpoint& endpoint, const ProbeResult& result,
                        const aws::NodeFacts* facts);

bool path_closed(Outcome o) { return o == Outcome::Timeout || o == Outcome::Unreachable; }

std::string port_hint(std::uint16_t port, Outcome outcome, const aws::NodeFacts* facts) {
  const bool closed = path_closed(outcome);
  if (closed && (port == 9443 || port == 10250)) {
    if (auto rule = node_ingress_from_cluster(port, facts); !rule.empty()) {
      return fmt::format(
          "{} is the {}: {}. The path that matters is control plane -> node: probe it with "
          "`type: {}`",
          port, port == 9443 ? "admission-webhook port" : "kubelet", rule,
          port == 9443 ? "inbound" : "kubelet");
    }
  }
  switch (port) {
    case 9443:
      if (closed) {
        return "9443 is the admission-webhook port (e.g. AWS Load Balancer Controller): the "
               "node security group must allow TCP 9443 inbound from the cluster security "
               "group. The path that matters is control plane -> node: probe it with "
               "`type: inbound`";
      }
      if (outcome == Outcome::Refused) {
        return "9443 is the admission-webhook port: nothing listens there; is the webhook "
               "pod running on that node?";
      }
      break;
    case 10250:
      if (closed) {
        return "10250 is the kubelet: the node security group must allow TCP 10250 inbound "
               "from the cluster security group (kubectl logs/exec need it). The path that "
               "matters is control plane -> node: probe it with `type: kubelet`";
      }
      if (outcome == Outcome::Refused) return "10250 is the kubelet: is the kubelet running?";
      break;
    case 443:
      if (closed) {
        return "443: API server or HTTPS egress; the node security group (outbound) and the "
               "target's security group (inbound 443 from the nodes), NACLs and routes (NAT "
               "gateway or VPC endpoint) must allow it";
      }
      break;
    case 53:
      if (closed) {
        return "53 is DNS: security groups and NACLs must allow UDP and TCP 53 to the "
               "resolver (CoreDNS or the VPC resolver)";
      }
      break;
    default:
      break;
  }
  return {};
}

std::string outcome_hint(Outcome outcome, std::uint16_t port) {
  const std::string p = port ? fmt::format("TCP {}", port) : std::string("the port");
  switch (outcome) {
    case Outcome::Ok:
      return {};
    case Outcome::Timeout:
      return fmt::format(
          "packets are silently dropped: a security group or NACL does not allow {} on this "
          "path, or the host is down",
          p);
    case Outcome::Refused:
      return "the path is open but nothing listens on the port: check the service/pod behind "
             "it";
    case Outcome::Unreachable:
      return "no route or an explicit reject: check route tables, NACL deny rules, and that "
             "the host exists";
    case Outcome::Reset:
      return "the connection was reset after it was set up: a middlebox or the server "
             "dropped it";
    case Outcome::NxDomain:
      return "the name does not exist: check its spelling, the DNS server and the search "
             "domains";
    case Outcome::ServFail:
      return "the DNS server failed: check the upstream resolver";
    case Outcome::DnsRefused:
      return "the DNS server refused the query: it is not authoritative or its ACL denies "
             "this node";
    case Outcome::NoAnswer:
      return "the name exists but has no record of the asked type";
    case Outcome::DnsTimeout:
      return "no DNS reply: UDP/TCP 53 to the DNS server is blocked, or the server is down";
    case Outcome::TlsError:
      return "TLS failed: an interception proxy, a wrong server name (SNI) or a wrong CA";
    case Outcome::BadStatus:
      return "the server answered with an unexpected HTTP status";
    case Outcome::Open:
      return "a path that must be closed accepted a connection: a security group, NACL, "
             "network policy or route lets it through; close it, or drop `expect: closed` if "
             "it is meant to be open";
    case Outcome::Error:
      return "see the message";
  }
  return {};
}

bool mentions(const std::string& message, std::string_view words) {
  return message.find(words) != std::string::npos;
}

// A TLS failure by its reason: each has a different owner (the server's operator, this
// node's trust store or clock, the network's proxy).
std::string tls_hint(const std::string& message) {
  if (mentions(message, kTlsExpired)) {
    return "the server's certificate has expired: it must be renewed (if it looks valid, check "
           "this node's clock)";
  }
  if (mentions(message, kTlsNotYetValid)) return "check this node's clock (NTP/chrony)";
  if (mentions(message, kTlsUnknownCa)) {
    return "the certificate chain ends at a CA this node does not trust: a TLS-inspecting "
           "proxy or firewall on the path, or set tls.ca_file to the CA that signs the server";
  }
  if (mentions(message, kTlsNameMismatch)) {
    return "the server presents a certificate for another name: the name resolves to the "
           "wrong server, or set tls.server_name to the name the certificate carries";
  }
  if (mentions(message, kTlsNotTls)) {
    return "this port does not speak TLS: is it the right port (or an http:// URL)?";
  }
  return outcome_hint(Outcome::TlsError, 0);
}

std::string status_hint(int status) {
  if (status == 401 || status == 403) {
    return "the path works; the server refuses the credentials: the bearer token is missing, "
           "expired or lacks permission (RBAC)";
  }
  if (status == 404) return "the path works; the URL's path does not exist on the server";
  if (status >= 300 && status < 400) {
    return "the server redirects: set follow_redirects: true, or probe the final URL";
  }
  if (status >= 500) {
    return "the path works; the server (or a load balancer in front of it) is failing";
  }
  return outcome_hint(Outcome::BadStatus, 0);
}

// The port of the endpoint: its own, or an http target's URL port.
std::uint16_t port_of(const Endpoint& endpoint) {
  if (endpoint.port != 0 || endpoint.type() != ProbeType::Http) return endpoint.port;
  auto url = parse_url(endpoint.target->url);
  return std::holds_alternative<Url>(url) ? std::get<Url>(url).port : 0;
}

// Inbound to a pod in the pod network: the node's security group is not on this path when
// the pods have their own (custom networking, security groups for pods) or an overlay.
std::string pod_inbound_hint(const Endpoint& endpoint) {
  return fmt::format(
      "the control plane cannot reach pods on node {} on TCP {} (this pod's IP, the path of a "
      "webhook pod): when the node vantage reaches it on this node, the cause is on the pods' "
      "side: the pods' security group (the ENIConfig's securityGroups with custom networking, "
      "a SecurityGroupPolicy with security groups for pods) must allow TCP {} from the cluster "
      "security group, or the CNI does not route the control plane to pod IPs (an overlay such "
      "as Calico or Cilium: run the webhook with hostNetwork: true)",
      this_node_name(), endpoint.port, endpoint.port);
}

// A path that starts at the control plane: the rule to add is an ingress rule on the node.
std::string inbound_hint(const Endpoint& endpoint, const ProbeResult& result,
                         const aws::NodeFacts* facts) {
  const bool kubelet = endpoint.type() == ProbeType::Kubelet;
  std::string what = kubelet ? "the kubelet (kubectl logs/exec, metrics)"
                     : endpoint.port == 9443
                         ? "the admission webhook (e.g. AWS Load Balancer Controller)"
                         : "this port";
  // A discovered port says who needs it.
  if (!kubelet && endpoint.consumers && !endpoint.consumers->empty()) {
    what = fmt::format("TCP {} for {}", endpoint.port, describe_consumers(*endpoint.consumers));
  }
  switch (result.outcome) {
    case Outcome::Timeout:
    case Outcome::Unreachable:
      if (endpoint.target->vantage == Vantage::Pod) return pod_inbound_hint(endpoint);
      if (auto rule = node_ingress_from_cluster(endpoint.port, facts); !rule.empty()) {
        return fmt::format("the control plane cannot reach {} on this node: {} (and check NACLs)",
                           what, rule);
      }
      return fmt::format(
          "the control plane cannot reach {} on this node: add an ingress rule to the node "
          "security group for TCP {} from the cluster security group (and check NACLs)",
          what, endpoint.port);
    case Outcome::Refused:
      return fmt::format("the path is open but nothing answers on TCP {} on this node{}",
                         endpoint.port, kubelet ? ": is the kubelet running?" : "");
    case Outcome::Error:
      return "see the message: the API server, the token or RBAC (a Role with get on pods/proxy "
             "and pods/log), not the network path";
    default:
      return outcome_hint(result.outcome, endpoint.port);
  }
}

// What a finding proves changes the fix: it comes before any hint that guesses from the
// outcome, the target's own included (those are written for a closed path).
std::string finding_hint(const Endpoint& endpoint, const ProbeResult& result) {
  switch (result.finding) {
    case Finding::None:
      return {};
    case Finding::NoReadyEndpoints: {
      const bool named = endpoint.backends != nullptr;
      const std::string ns = named ? endpoint.backends->namespace_name : "NAMESPACE";
      const std::string name = named ? endpoint.backends->service : "NAME";
      return fmt::format(
          "Service {}/{} has no ready endpoints: kube-proxy rejects connections to its "
          "ClusterIP: no firewall is involved, nor a missing listener. Check the pods behind it: "
          "`kubectl get endpointslices -n {} -l kubernetes.io/service-name={}`, their "
          "readiness probes, the Service's selector",
          ns, name, ns, name);
    }
    case Finding::MtuBlackHole:
      return "path MTU black hole: full-size packets are dropped on the way and the ICMP "
             "\"fragmentation needed\" (type 3 code 4) that would tell the sender is blocked. "
             "Allow ICMP type 3 code 4 through the security groups, NACLs and firewalls on the "
             "path, clamp the TCP MSS on the VPN or tunnel (--clamp-mss-to-pmtu), or lower the "
             "MTU (AWS_VPC_ENI_MTU of the VPC CNI). No port rule fixes it";
    case Finding::ControlPlaneCannotRoute:
      return "the control plane cannot route to this address: with an overlay CNI (Calico, "
             "Cilium in overlay mode) on EKS the control plane is outside the pod network. Run "
             "the webhook with hostNetwork: true (on a port free on the node), or use pod "
             "addresses from the VPC (the VPC CNI); no security-group rule helps";
    case Finding::NoResponseHeaders:
      return fmt::format(
          "the control plane reached TCP {} on this node, so no security group blocks it; "
          "whatever holds the port accepted the connection and did not answer in time (a hung "
          "webhook server, or another process on the port)",
          endpoint.port);
  }
  return {};
}

}  // namespace

std::string node_ingress_from_cluster(std::uint16_t port, const aws::NodeFacts* facts) {
  const aws::SecurityGroup* node = facts ? facts->node_security_group() : nullptr;
  if (node == nullptr) return {};
  const aws::SecurityGroup* cluster = facts->cluster_security_group();
  std::string from;
  if (cluster != nullptr && cluster != node) {
    from = fmt::format("the cluster security group {} ({})", cluster->id, cluster->name);
  } else {
    from =
        "the cluster security group (not attached to this node, so its id is not known "
        "here: the group named eks-cluster-sg-CLUSTER-*, or `aws eks describe-cluster "
        "--name CLUSTER --query cluster.resourcesVpcConfig.clusterSecurityGroupId`)";
  }
  return fmt::format(
      "add to {}{} (this node's security group{}) an ingress rule for TCP {} from {}", node->id,
      node->name.empty() ? "" : " " + node->name, node_group_choice_note(facts), port, from);
}

std::string node_group_choice_note(const aws::NodeFacts* facts) {
  if (facts == nullptr) return {};
  const auto choice = facts->choose_node_security_group();
  if (choice.chosen == nullptr || choice.reason.empty()) return {};
  std::string others;
  for (const auto* g : choice.others) others += (others.empty() ? "" : ", ") + aws::describe(*g);
  return fmt::format(": {}; also attached: {}", choice.reason, others);
}

std::string hint_for(const Endpoint& endpoint, const ProbeResult& result,
                     const aws::NodeFacts* facts) {
  if (result.ok()) return {};
  // What the probe proved replaces every guess, the target's own hint included (written for
  // a closed path).
  if (auto proven = finding_hint(endpoint, result); !proven.empty()) return proven;
  const std::string known = known_cause(endpoint, result, facts);
  // The target's own words add to what the result says, never replace it: a hint written
  // for a timeout must not explain a refused connection away.
  const std::string own(endpoint.target->hint_for(result.outcome));
  if (own.empty()) return known;
  if (known.empty()) return own;
  return fmt::format("{}. {}: {}", known, endpoint.target->name, own);
}

namespace {

std::string known_cause(const Endpoint& endpoint, const ProbeResult& result,
                        const aws::NodeFacts* facts) {
  if (auto located = location_hint(endpoint, result, facts); located.applies) return located.text;
  if (endpoint.type() == ProbeType::Inbound || endpoint.type() == ProbeType::Kubelet) {
    return inbound_hint(endpoint, result, facts);
  }
  // A timeout after the TCP handshake is no firewall drop: the SYN was answered.
  if (result.outcome == Outcome::Timeout &&
      (result.phase(Phase::Tls) || result.phase(Phase::FirstByte))) {
    return "TCP connects, so the path is open, but the server does not answer (a hung or "
           "overloaded server, another service on this port, or a proxy holding the data)";
  }
  if (result.outcome == Outcome::TlsError) return tls_hint(result.message);
  if (result.outcome == Outcome::BadStatus && result.http_status) {
    return status_hint(*result.http_status);
  }
  const std::uint16_t port = port_of(endpoint);
  if (port == 10250 && path_closed(result.outcome) && !endpoint.peer_node().empty()) {
    return fmt::format(
        "the kubelet of node {} is closed to this node: metrics-server (on one node) scrapes "
        "every kubelet, so the node security group must allow TCP 10250 from itself",
        endpoint.peer_node());
  }
  if (auto h = port_hint(port, result.outcome, facts); !h.empty()) return h;
  return outcome_hint(result.outcome, port);
}

}  // namespace

}  // namespace reachprobe
