#include "probe/check/remediation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <tuple>

#include "probe/check/location_hints.hpp"
#include "probe/core/url.hpp"
#include "probe/log/logging.hpp"

namespace reachprobe {

namespace {

constexpr std::size_t kEndpointsNamed = 5;  // per rule in comments; the JSON has them all
constexpr std::string_view kNodePlaceholder = "NODE_SG_ID";
constexpr std::string_view kClusterPlaceholder = "CLUSTER_SG_ID";
constexpr std::string_view kVpcCidrPlaceholder = "VPC_CIDR";

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string host_name(std::string_view host) {
  std::string h = lower(host);
  if (!h.empty() && h.back() == '.') h.pop_back();
  return h;
}

bool is_sts(std::string_view host) {
  const std::string h = host_name(host);
  return h.starts_with("sts.") || h.find(".sts.") != std::string::npos;
}

bool is_api_server(std::string_view host, const std::string& api_server_host) {
  const std::string h = host_name(host);
  return (!api_server_host.empty() && h == host_name(api_server_host)) || h == "kubernetes" ||
         h.starts_with("kubernetes.default") || h.ends_with(".eks.amazonaws.com");
}

bool is_private_ipv4(std::string_view address) {
  for (std::string_view block :
       {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"}) {
    if (aws::ipv4_in_cidr(address, block)) return true;
  }
  return false;
}

std::uint16_t port_of(const CheckRow& row) {
  if (row.endpoint.port != 0 || row.endpoint.type() != ProbeType::Http) return row.endpoint.port;
  auto url = parse_url(row.endpoint.target->url);
  return std::holds_alternative<Url>(url) ? std::get<Url>(url).port : 0;
}

std::string host_of(const CheckRow& row) {
  if (row.endpoint.type() != ProbeType::Http) return row.endpoint.host;
  auto url = parse_url(row.endpoint.target->url);
  return std::holds_alternative<Url>(url) ? std::get<Url>(url).host : std::string();
}

bool administratively_prohibited(const std::string& message) {
  return lower(message).find("administratively prohibited") != std::string::npos;
}

// Why no security-group rule fixes a failure the probe explained, or empty.
std::string why_no_rule_found(const CheckRow& row) {
  switch (row.result.finding) {
    case Finding::None:
      return {};
    case Finding::NoReadyEndpoints:
      if (const auto& b = row.endpoint.backends) {
        return fmt::format(
            "Service {}/{} has no ready endpoints: kube-proxy rejects connections to its "
            "ClusterIP; no security group is involved, the pods behind the Service are not ready",
            b->namespace_name, b->service);
      }
      return "the Service has no ready endpoints: kube-proxy rejects connections to its "
             "ClusterIP; no security group is involved";
    case Finding::MtuBlackHole:
      return "a path MTU black hole (the handshake completes with small segments): no port is "
             "closed; allow ICMP type 3 code 4 on the path, clamp the MSS or lower the MTU "
             "(AWS_VPC_ENI_MTU), see the hint";
    case Finding::ControlPlaneCannotRoute:
      return "the control plane cannot route to the pod network (\"Address is not allowed\", an "
             "overlay CNI): no security-group rule helps; the listener needs hostNetwork: true";
    case Finding::NoResponseHeaders:
      return "the control plane connected (no security group drops it) and got no answer in "
             "time: whatever holds the port is not answering";
  }
  return {};
}

// Why no security-group rule fixes this failure, or empty if one may.
std::string why_no_rule(const CheckRow& row, std::uint16_t port) {
  const auto& r = row.result;
  if (auto found = why_no_rule_found(row); !found.empty()) return found;
  const std::string where =
      r.address.empty() ? row.endpoint.label : join_host_port(r.address, port);
  const bool inbound =
      row.endpoint.type() == ProbeType::Inbound || row.endpoint.type() == ProbeType::Kubelet;
  if (inbound && row.endpoint.target->vantage == Vantage::Pod &&
      (r.outcome == Outcome::Timeout || r.outcome == Outcome::Unreachable)) {
    return fmt::format(
        "the pod vantage: the control plane reaches pods through the pods' security group, not "
        "the node's: allow TCP {} from the cluster security group in the security group of the "
        "ENIConfig (custom networking) or of the SecurityGroupPolicy (security groups for pods) "
        "that covers these pods (`kubectl get eniconfigs,securitygrouppolicies -A -o yaml` names "
        "it); with an overlay CNI the control plane cannot route to pod IPs: run the webhook "
        "with hostNetwork: true",
        port);
  }
  switch (r.outcome) {
    case Outcome::Timeout:
      if (r.phase(Phase::Tls) || r.phase(Phase::FirstByte)) {
        return "the TCP connection was set up, so no security group drops it; the server does "
               "not answer";
      }
      if (port == 0) return "no port to open: see the hint";
      return {};
    case Outcome::Unreachable:
      if (administratively_prohibited(r.message)) return {};
      return "no route or host down, not administratively prohibited: a route table, a NACL or "
             "the host, not a security group";
    case Outcome::Refused:
      return fmt::format(
          "the path is open (a security group drops packets, it never refuses them) and "
          "nothing listens on TCP {}; start or fix the service there instead",
          where);
    case Outcome::Open:
      return "a path that must be closed is open: remove the rule or setting that allows it "
             "(nothing to add)";
    case Outcome::DnsTimeout:
      return "no DNS reply: DNS needs UDP and TCP 53 to the resolver; the VPC resolver is not "
             "behind a security group (check NACLs), CoreDNS pods are (allow 53 between nodes)";
    default:
      return fmt::format("{} is not a closed network path: see the hint", to_string(r.outcome));
  }
}

std::string port_purpose(std::uint16_t port) {
  switch (port) {
    case 9443:
      return " (admission webhook)";
    case 10250:
      return " (kubelet)";
    default:
      return "";
  }
}

RemediationRule make_rule(const CheckRow& row, std::uint16_t port, const aws::NodeFacts* facts,
                          const std::string& api_server_host) {
  RemediationRule rule;
  rule.port = port;
  const std::string host = host_of(row);
  const std::string& address = row.result.address;
  const bool known_vpc = facts != nullptr && !facts->vpc_cidrs.empty();
  const bool in_vpc = known_vpc ? facts->in_vpc(address) : is_private_ipv4(address);
  const auto type = row.endpoint.type();
  // A peer node's kubelet (the node mesh): metrics-server on one node scrapes every kubelet,
  // so the rule is node -> node, not control plane -> node.
  const bool peer_node = !row.endpoint.peer_node().empty();
  const auto& discover = row.endpoint.target->discover;
  // The `kubernetes` Service: its ClusterIP and its endpoints are the control-plane ENIs.
  const bool api_server_service =
      discover && discover->namespace_name == "default" && discover->service == "kubernetes";
  // Any other Service's ClusterIP: kube-proxy sends it to the Service's pods, on nodes.
  const bool through_cluster_ip =
      discover && discover->addresses == DiscoverAddresses::ClusterIp && !api_server_service;
  if (type == ProbeType::Inbound || type == ProbeType::Kubelet ||
      ((port == 9443 || port == 10250) && !peer_node)) {
    rule.kind = RuleKind::ClusterToNode;
    rule.peer = RulePeer::ClusterGroup;
    rule.description =
        fmt::format("reachprobe: control plane to node TCP {}{}", port, port_purpose(port));
    if (type != ProbeType::Inbound && type != ProbeType::Kubelet) {
      rule.note = fmt::format(
          "TCP {} is a port the control plane calls on the nodes; this rule opens that path "
          "(probe it with `type: {}` to see it from the control plane)",
          port, port == 10250 ? "kubelet" : "inbound");
    }
  } else if (port == 443 && is_sts(host)) {
    rule.kind = RuleKind::StsEgress;
    rule.ingress = false;
    rule.cidr_blocks =
        in_vpc && known_vpc ? facts->vpc_cidrs : std::vector<std::string>{"0.0.0.0/0"};
    rule.description = "reachprobe: node to STS TCP 443";
    rule.note =
        "IRSA needs STS. In private subnets the usual fix is a route, not only this rule: an "
        "sts interface VPC endpoint (com.amazonaws.REGION.sts, private DNS on, its security "
        "group allowing TCP 443 from the nodes) or a NAT gateway route for the subnet";
  } else if (port == 443 && (api_server_service || is_api_server(host, api_server_host))) {
    rule.kind = RuleKind::NodeToApiServer;
    rule.on_cluster_group = true;
    rule.peer = RulePeer::NodeGroup;
    rule.description = "reachprobe: nodes to API server TCP 443";
  } else if (in_vpc || through_cluster_ip) {
    rule.kind = RuleKind::NodeToNode;
    rule.peer = RulePeer::Self;
    rule.broader_cidr_blocks =
        known_vpc ? facts->vpc_cidrs : std::vector<std::string>{std::string(kVpcCidrPlaceholder)};
    rule.description = fmt::format("reachprobe: node to node TCP {}", port);
    rule.note =
        "least privilege: from this node group itself; if some peers are not in it, the VPC "
        "CIDR is the broader alternative";
    if (through_cluster_ip) {
      rule.note += fmt::format(
          ". Through the ClusterIP of Service {}/{}: kube-proxy sends it to the Service's pods, "
          "so the rule is for the pods' port (the Service's targetPort, TCP {} when the Service "
          "keeps the port)",
          discover->namespace_name, discover->service, port);
    }
  } else {
    rule.kind = RuleKind::NodeEgress;
    rule.ingress = false;
    rule.cidr_blocks = {address.find(':') == std::string::npos ? address + "/32"
                                                               : address + "/128"};
    rule.description = fmt::format("reachprobe: node to {} TCP {}", address, port);
    rule.note = "the destination's own security group (or firewall) must also allow it inbound";
  }
  return rule;
}

std::string group_id(const aws::SecurityGroup& group, std::string_view placeholder) {
  return group.id.empty() ? std::string(placeholder) : group.id;
}

std::string rule_group(const RemediationPlan& plan, const RemediationRule& rule) {
  return rule.on_cluster_group ? group_id(plan.cluster_group, kClusterPlaceholder)
                               : group_id(plan.node_group, kNodePlaceholder);
}

std::string peer_group(const RemediationPlan& plan, const RemediationRule& rule) {
  switch (rule.peer) {
    case RulePeer::ClusterGroup:
      return group_id(plan.cluster_group, kClusterPlaceholder);
    case RulePeer::NodeGroup:
    case RulePeer::Self:
      return group_id(plan.node_group, kNodePlaceholder);
    case RulePeer::Cidr:
      break;
  }
  return {};
}

std::string endpoints_comment(const RemediationRule& rule, std::string_view prefix) {
  std::string out = std::string(prefix) + "fixes:";
  for (std::size_t i = 0; i < rule.endpoints.size() && i < kEndpointsNamed; ++i) {
    const auto& e = rule.endpoints[i];
    out += fmt::format("{} {} {} ({})", i ? "," : "", e.target, e.endpoint, e.result);
    if (!e.consumers.empty()) out += fmt::format(" for {}", e.consumers);
  }
  if (rule.endpoints.size() > kEndpointsNamed) {
    out += fmt::format(" and {} more", rule.endpoints.size() - kEndpointsNamed);
  }
  return out + "\n";
}

// Word-wrapped comment lines.
std::string comment(std::string_view text, std::string_view prefix, std::size_t width = 96) {
  std::string out;
  std::string line(prefix);
  bool empty = true;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find(' ', pos);
    if (end == std::string_view::npos) end = text.size();
    const auto word = text.substr(pos, end - pos);
    if (!empty && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line = std::string(prefix) + "  ";
      empty = true;
    }
    if (!empty) line += ' ';
    line += word;
    empty = false;
    pos = end + 1;
  }
  return out + line + "\n";
}

std::string hcl_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", \"" : "\"") + items[i] + "\"";
  return out + "]";
}

// Attribute lines aligned on '=' as `terraform fmt` writes them.
std::string hcl_attributes(const std::vector<std::pair<std::string, std::string>>& attributes,
                           std::string_view indent) {
  std::size_t width = 0;
  for (const auto& [name, value] : attributes) width = std::max(width, name.size());
  std::string out;
  for (const auto& [name, value] : attributes) {
    out += fmt::format("{}{:<{}} = {}\n", indent, name, width, value);
  }
  return out;
}

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::string rule_key(const RemediationRule& rule) {
  switch (rule.kind) {
    case RuleKind::ClusterToNode:
      return fmt::format("ingress_cluster_{}", rule.port);
    case RuleKind::NodeToNode:
      return fmt::format("ingress_self_{}", rule.port);
    case RuleKind::NodeToApiServer:
      return fmt::format("ingress_nodes_{}", rule.port);
    case RuleKind::StsEgress:
      return fmt::format("egress_sts_{}", rule.port);
    case RuleKind::NodeEgress: {
      std::string key = "egress_" + rule.cidr_blocks.front();
      for (char& c : key) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) c = '_';
      }
      return fmt::format("{}_{}", key, rule.port);
    }
  }
  return "rule";
}

std::string facts_comment(const RemediationPlan& plan, std::string_view prefix) {
  std::string out;
  if (plan.instance_id.empty() && plan.node_group.id.empty()) {
    out += comment(
        "This node's security groups are not known (IMDS not asked: set `aws: {imds: true}` in "
        "the config, or it was unreachable): NODE_SG_ID is this node's security group "
        "(`aws ec2 describe-instances --instance-ids ID --query "
        "'Reservations[].Instances[].SecurityGroups'`), CLUSTER_SG_ID the cluster security "
        "group (`aws eks describe-cluster --name CLUSTER --query "
        "cluster.resourcesVpcConfig.clusterSecurityGroupId`).",
        prefix);
    return out;
  }
  out += fmt::format(
      "{}node {} in {} ({}, subnet {}, {})\n", prefix,
      plan.instance_id.empty() ? "?" : plan.instance_id, plan.region.empty() ? "?" : plan.region,
      plan.availability_zone.empty() ? "?" : plan.availability_zone,
      plan.subnet_id.empty() ? "?" : plan.subnet_id, plan.vpc_id.empty() ? "VPC ?" : plan.vpc_id);
  out += fmt::format("{}node security group: {} {}\n", prefix,
                     group_id(plan.node_group, kNodePlaceholder), plan.node_group.name);
  if (!plan.node_group_reason.empty()) {
    std::string others;
    for (const auto& g : plan.other_groups)
      others += (others.empty() ? "" : ", ") + aws::describe(g);
    out += comment(fmt::format("taken as the node security group: {}. Also attached: {}; if the "
                               "rules below belong on one of those, use its id instead.",
                               plan.node_group_reason, others),
                   prefix);
  }
  if (!plan.cluster_group.id.empty()) {
    out += fmt::format("{}cluster security group: {} {}\n", prefix, plan.cluster_group.id,
                       plan.cluster_group.name);
  } else {
    out += comment(
        "cluster security group: not attached to this node, so CLUSTER_SG_ID stands for it: "
        "the group named eks-cluster-sg-CLUSTER-*, or `aws eks describe-cluster --name CLUSTER "
        "--query cluster.resourcesVpcConfig.clusterSecurityGroupId`",
        prefix);
  }
  return out;
}

// The NACL/routing-shaped findings: what was seen, and the lookups (commands, not rules).
std::string network_path_comment(const RemediationPlan& plan, std::string_view prefix) {
  std::string out;
  for (const auto& f : plan.network_paths) {
    out += fmt::format("\n{}network path: {} (NACL or route shaped; no security-group rule)\n",
                       prefix, f.subnet);
    out += comment(f.why, prefix);
    out += fmt::format("{}lookups:\n", prefix);
    for (const auto& lookup : f.lookups) out += fmt::format("{}  {}\n", prefix, lookup);
  }
  return out;
}

std::string skipped_comment(const RemediationPlan& plan, std::string_view prefix) {
  if (plan.skipped.empty()) return {};
  std::string out = network_path_comment(plan, prefix);
  out += fmt::format("\n{}No rule for these failures:\n", prefix);
  for (const auto& s : plan.skipped) {
    out += comment(fmt::format("- {} {} {}: {}", s.endpoint.target, s.endpoint.endpoint,
                               s.endpoint.result, s.why),
                   prefix);
  }
  return out;
}

std::string json_string(std::string_view s) { return "\"" + log::json_escape(s) + "\""; }

std::string json_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + json_string(items[i]);
  return out + "]";
}

std::string json_or_null(std::string_view s) { return s.empty() ? "null" : json_string(s); }

}  // namespace

std::string_view to_string(RuleKind kind) {
  switch (kind) {
    case RuleKind::ClusterToNode:
      return "cluster_to_node";
    case RuleKind::NodeToNode:
      return "node_to_node";
    case RuleKind::NodeToApiServer:
      return "node_to_api_server";
    case RuleKind::StsEgress:
      return "sts_egress";
    case RuleKind::NodeEgress:
      return "node_egress";
  }
  return "unknown";
}

RemediationPlan plan_remediation(const std::vector<CheckRow>& rows, const aws::NodeFacts* facts,
                                 const std::string& api_server_host) {
  RemediationPlan plan;
  if (facts != nullptr) {
    plan.region = facts->region;
    plan.instance_id = facts->instance_id;
    plan.availability_zone = facts->availability_zone;
    plan.subnet_id = facts->subnet_id;
    plan.vpc_id = facts->vpc_id;
    plan.vpc_cidrs = facts->vpc_cidrs;
    const auto choice = facts->choose_node_security_group();
    if (choice.chosen != nullptr) plan.node_group = *choice.chosen;
    plan.node_group_reason = choice.reason;
    for (const auto* g : choice.others) plan.other_groups.push_back(*g);
    if (const auto* cluster = facts->cluster_security_group();
        cluster != nullptr && cluster->id != plan.node_group.id) {
      plan.cluster_group = *cluster;
    }
  }
  // (kind, port, CIDRs) -> index in plan.rules: one rule however many endpoints need it.
  std::map<std::tuple<RuleKind, std::uint16_t, std::vector<std::string>>, std::size_t> index;
  plan.network_paths = find_network_paths(rows, facts);
  std::map<std::size_t, std::string> network_path_rows;  // row index -> the subnet
  for (const auto& finding : plan.network_paths) {
    for (auto i : finding.rows) network_path_rows.emplace(i, finding.subnet);
  }
  for (const auto& row : rows) {
    if (row.result.ok()) continue;
    const std::uint16_t port = port_of(row);
    RemediationEndpoint endpoint{row.endpoint.target_name(), row.endpoint.label,
                                 std::string(to_string(row.result.outcome))};
    if (row.endpoint.consumers) endpoint.consumers = describe_consumers(*row.endpoint.consumers);
    if (auto it = network_path_rows.find(static_cast<std::size_t>(&row - rows.data()));
        it != network_path_rows.end()) {
      plan.skipped.push_back(
          {std::move(endpoint),
           fmt::format("every TCP connection toward {} failed while the same ports connect to "
                       "other subnets: a network ACL or route, not a rule on this node's "
                       "security group (see \"network path\" below)",
                       it->second)});
      continue;
    }
    // An AWS service or the cluster endpoint outside the VPC: a route, an endpoint or the
    // endpoint's access CIDRs, not a rule on the node or cluster group.
    if (auto located = location_hint(row.endpoint, row.result, facts);
        located.applies && !located.node_or_cluster_group_fix) {
      plan.skipped.push_back({std::move(endpoint), std::move(located.text)});
      continue;
    }
    if (auto why = why_no_rule(row, port); !why.empty()) {
      plan.skipped.push_back({std::move(endpoint), std::move(why)});
      continue;
    }
    RemediationRule rule = make_rule(row, port, facts, api_server_host);
    if (rule.kind == RuleKind::NodeEgress && row.result.address.empty()) {
      plan.skipped.push_back(
          {std::move(endpoint), "no address was contacted, so no rule can name one"});
      continue;
    }
    auto key = std::tuple{rule.kind, rule.port, rule.cidr_blocks};
    if (!endpoint.consumers.empty() && rule.kind == RuleKind::ClusterToNode) {
      rule.note =
          fmt::format("TCP {} from the cluster security group, for {}", port, endpoint.consumers);
    }
    auto [it, added] = index.try_emplace(std::move(key), plan.rules.size());
    if (added) plan.rules.push_back(std::move(rule));
    plan.rules[it->second].endpoints.push_back(std::move(endpoint));
  }
  return plan;
}

std::string render_terraform(const RemediationPlan& plan) {
  std::string out = "# reachprobe check --remediation terraform\n";
  out += facts_comment(plan, "# ");
  if (plan.rules.empty()) {
    out += "\n# No failure here is one a security group rule fixes: nothing to add.\n";
    return out + skipped_comment(plan, "# ");
  }
  std::vector<const RemediationRule*> node_rules, cluster_rules;
  for (const auto& r : plan.rules) (r.on_cluster_group ? cluster_rules : node_rules).push_back(&r);

  auto module_entry = [&](const RemediationRule& r) {
    std::string e = endpoints_comment(r, "    # ");
    if (!r.note.empty()) e += comment(r.note, "    # ");
    e += fmt::format("    {} = {{\n", rule_key(r));
    std::vector<std::pair<std::string, std::string>> a = {
        {"description", quoted(r.description)},
        {"protocol", quoted("tcp")},
        {"from_port", std::to_string(r.port)},
        {"to_port", std::to_string(r.port)},
        {"type", quoted(r.ingress ? "ingress" : "egress")}};
    switch (r.peer) {
      case RulePeer::ClusterGroup:
        a.emplace_back("source_cluster_security_group", "true");
        break;
      case RulePeer::NodeGroup:
        a.emplace_back("source_node_security_group", "true");
        break;
      case RulePeer::Self:
        a.emplace_back("self", "true");
        break;
      case RulePeer::Cidr:
        a.emplace_back("cidr_blocks", hcl_list(r.cidr_blocks));
        break;
    }
    e += hcl_attributes(a, "      ");
    e += "    }\n";
    if (!r.broader_cidr_blocks.empty()) {
      e += "    # broader alternative:\n";
      e += fmt::format(
          "    # ingress_vpc_{} = {{ description = \"reachprobe: VPC to node TCP {}\", protocol "
          "= \"tcp\", from_port = {}, to_port = {}, type = \"ingress\", cidr_blocks = {} }}\n",
          r.port, r.port, r.port, r.port, hcl_list(r.broader_cidr_blocks));
    }
    return e;
  };

  out += "\n# With terraform-aws-modules/eks: add these entries to the arguments of your\n";
  out += "# module block (merge with entries you already have).\n";
  out += "module \"eks\" {\n";
  const auto module_argument = [&](std::string_view argument, const auto& rules) {
    if (rules.empty()) return;
    out += fmt::format("  {} = {{\n", argument);
    for (std::size_t i = 0; i < rules.size(); ++i) {
      if (i) out += "\n";
      out += module_entry(*rules[i]);
    }
    out += "  }\n";
  };
  module_argument("node_security_group_additional_rules", node_rules);
  module_argument("cluster_security_group_additional_rules", cluster_rules);
  out += "}\n";

  out += "\n# Without the module: the same rules on this node's security groups.\n";
  for (const auto& r : plan.rules) {
    out += "\n" + endpoints_comment(r, "# ");
    out += fmt::format("resource \"aws_security_group_rule\" \"reachprobe_{}\" {{\n", rule_key(r));
    std::vector<std::pair<std::string, std::string>> a = {
        {"description", quoted(r.description)},
        {"type", quoted(r.ingress ? "ingress" : "egress")},
        {"protocol", quoted("tcp")},
        {"from_port", std::to_string(r.port)},
        {"to_port", std::to_string(r.port)},
        {"security_group_id", quoted(rule_group(plan, r))}};
    switch (r.peer) {
      case RulePeer::ClusterGroup:
      case RulePeer::NodeGroup:
        a.emplace_back("source_security_group_id", quoted(peer_group(plan, r)));
        break;
      case RulePeer::Self:
        a.emplace_back("self", "true");
        break;
      case RulePeer::Cidr:
        a.emplace_back("cidr_blocks", hcl_list(r.cidr_blocks));
        break;
    }
    out += hcl_attributes(a, "  ");
    out += "}\n";
    if (!r.broader_cidr_blocks.empty()) {
      out += fmt::format("# broader alternative: instead of self = true, cidr_blocks = {}\n",
                         hcl_list(r.broader_cidr_blocks));
    }
  }
  return out + skipped_comment(plan, "# ");
}

std::string render_aws_cli(const RemediationPlan& plan) {
  std::string out = "# reachprobe check --remediation aws-cli\n";
  out += facts_comment(plan, "# ");
  if (plan.rules.empty()) {
    out += "\n# No failure here is one a security group rule fixes: nothing to add.\n";
    return out + skipped_comment(plan, "# ");
  }
  const std::string region = plan.region.empty() ? "" : " --region " + plan.region;
  for (const auto& r : plan.rules) {
    out += "\n" + endpoints_comment(r, "# ");
    if (!r.note.empty()) out += comment(r.note, "# ");
    const std::string command =
        r.ingress ? "authorize-security-group-ingress" : "authorize-security-group-egress";
    std::string peer;
    if (r.peer == RulePeer::Cidr) {
      std::string ranges;
      for (const auto& c : r.cidr_blocks) {
        ranges += fmt::format("{}{{CidrIp={},Description=\"{}\"}}", ranges.empty() ? "" : ",", c,
                              r.description);
      }
      peer = "IpRanges=[" + ranges + "]";
    } else {
      peer = fmt::format("UserIdGroupPairs=[{{GroupId={},Description=\"{}\"}}]",
                         peer_group(plan, r), r.description);
    }
    out += fmt::format(
        "aws ec2 {}{} --group-id {} --ip-permissions 'IpProtocol=tcp,FromPort={},ToPort={},{}'\n",
        command, region, rule_group(plan, r), r.port, r.port, peer);
    if (!r.broader_cidr_blocks.empty()) {
      std::string ranges;
      for (const auto& c : r.broader_cidr_blocks) {
        ranges += fmt::format("{}{{CidrIp={}}}", ranges.empty() ? "" : ",", c);
      }
      out += fmt::format(
          "# broader alternative: aws ec2 {}{} --group-id {} --ip-permissions "
          "'IpProtocol=tcp,FromPort={},ToPort={},IpRanges=[{}]'\n",
          command, region, rule_group(plan, r), r.port, r.port, ranges);
    }
  }
  return out + skipped_comment(plan, "# ");
}

std::string render_remediation_json(const RemediationPlan& plan) {
  std::string out = "{\"node\": {";
  out += "\"instance_id\": " + json_or_null(plan.instance_id);
  out += ", \"region\": " + json_or_null(plan.region);
  out += ", \"availability_zone\": " + json_or_null(plan.availability_zone);
  out += ", \"subnet_id\": " + json_or_null(plan.subnet_id);
  out += ", \"vpc_id\": " + json_or_null(plan.vpc_id);
  out += ", \"vpc_cidrs\": " + json_list(plan.vpc_cidrs);
  out += ", \"node_security_group_id\": " + json_or_null(plan.node_group.id);
  out += ", \"cluster_security_group_id\": " + json_or_null(plan.cluster_group.id);
  out += ", \"node_security_group_reason\": " + json_or_null(plan.node_group_reason);
  std::vector<std::string> other_ids;
  for (const auto& g : plan.other_groups) other_ids.push_back(g.id);
  out += ", \"other_security_group_ids\": " + json_list(other_ids);
  out += "}, \"rules\": [";
  for (std::size_t i = 0; i < plan.rules.size(); ++i) {
    const auto& r = plan.rules[i];
    const auto group = rule_group(plan, r);
    const auto peer = peer_group(plan, r);
    out += i ? ", {" : "{";
    out += "\"kind\": " + json_string(to_string(r.kind));
    out += fmt::format(", \"direction\": \"{}\", \"protocol\": \"tcp\", \"port\": {}",
                       r.ingress ? "ingress" : "egress", r.port);
    out += fmt::format(", \"security_group\": \"{}\"", r.on_cluster_group ? "cluster" : "node");
    out += ", \"security_group_id\": " +
           (group.starts_with("sg-") ? json_string(group) : std::string("null"));
    out += fmt::format(", \"self\": {}", r.peer == RulePeer::Self ? "true" : "false");
    out += ", \"source_security_group\": " +
           std::string(r.peer == RulePeer::ClusterGroup ? "\"cluster\""
                       : r.peer == RulePeer::NodeGroup  ? "\"node\""
                                                        : "null");
    out += ", \"source_security_group_id\": " +
           ((r.peer == RulePeer::ClusterGroup || r.peer == RulePeer::NodeGroup) &&
                    peer.starts_with("sg-")
                ? json_string(peer)
                : std::string("null"));
    out += ", \"cidr_blocks\": " + json_list(r.cidr_blocks);
    out += ", \"broader_cidr_blocks\": " + json_list(r.broader_cidr_blocks);
    out += ", \"terraform_module_argument\": " +
           json_string(r.on_cluster_group ? "cluster_security_group_additional_rules"
                                          : "node_security_group_additional_rules");
    out += ", \"description\": " + json_string(r.description);
    out += ", \"note\": " + json_string(r.note);
    out += ", \"endpoints\": [";
    for (std::size_t j = 0; j < r.endpoints.size(); ++j) {
      const auto& e = r.endpoints[j];
      out += fmt::format("{}{{\"target\": {}, \"endpoint\": {}, \"result\": {}}}", j ? ", " : "",
                         json_string(e.target), json_string(e.endpoint), json_string(e.result));
    }
    out += "]}";
  }
  out += "], \"no_rule\": [";
  for (std::size_t i = 0; i < plan.skipped.size(); ++i) {
    const auto& s = plan.skipped[i];
    out +=
        fmt::format("{}{{\"target\": {}, \"endpoint\": {}, \"result\": {}, \"why\": {}}}",
                    i ? ", " : "", json_string(s.endpoint.target), json_string(s.endpoint.endpoint),
                    json_string(s.endpoint.result), json_string(s.why));
  }
  out += "], \"network_paths\": [";
  for (std::size_t i = 0; i < plan.network_paths.size(); ++i) {
    const auto& f = plan.network_paths[i];
    std::vector<std::string> ports, elsewhere;
    for (auto p : f.ports) ports.push_back(std::to_string(p));
    for (auto p : f.ports_working_elsewhere) elsewhere.push_back(std::to_string(p));
    const auto numbers = [](const std::vector<std::string>& items) {
      std::string list = "[";
      for (std::size_t j = 0; j < items.size(); ++j) list += (j ? ", " : "") + items[j];
      return list + "]";
    };
    out += fmt::format(
        "{}{{\"subnet\": {}, \"addresses\": {}, \"ports\": {}, \"ports_working_elsewhere\": "
        "{}, \"working_examples\": {}, \"why\": {}, \"lookups\": {}}}",
        i ? ", " : "", json_string(f.subnet), json_list(f.addresses), numbers(ports),
        numbers(elsewhere), json_list(f.working_examples), json_string(f.why),
        json_list(f.lookups));
  }
  return out + "]}";
}

}  // namespace reachprobe
