#include "probe/check/network_path.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace reachprobe {

namespace {

// Rows that are one TCP connect to one address; 0 for the rest.
std::uint16_t tcp_port(const CheckRow& row) {
  switch (row.endpoint.type()) {
    case ProbeType::Tcp:
    case ProbeType::Tls:
      return row.endpoint.port;
    case ProbeType::Dns: {
      // The connects of a dns target with connect_port are rows of their own.
      const auto& connect = row.endpoint.target->connect_port;
      return connect && row.endpoint.port == *connect ? row.endpoint.port : 0;
    }
    default:
      return 0;
  }
}

enum class Path { Connected, Blocked, Unknown };

// Whether the network let a TCP connection through, judged by what happened, not by what
// was expected (a path declared closed that timed out is blocked all the same).
Path path_of(const ProbeResult& r) {
  const bool past_connect = r.phase(Phase::Tls) || r.phase(Phase::FirstByte);
  switch (r.outcome) {
    case Outcome::Ok:
    case Outcome::Refused:  // an RST came back: the packets went both ways
    case Outcome::Reset:
    case Outcome::TlsError:
    case Outcome::BadStatus:
      return Path::Connected;
    case Outcome::Timeout:
      return past_connect ? Path::Connected : Path::Blocked;
    case Outcome::Unreachable:
      return Path::Blocked;
    default:
      // `open` (a path declared closed accepted a connection) connected too.
      return to_string(r.outcome) == "open" ? Path::Connected : Path::Unknown;
  }
}

struct Subnet {
  std::set<std::string> addresses;
  bool connected = false;
  std::set<std::uint16_t> failed_ports;
  std::vector<std::size_t> failed_rows;
};

std::string join_ports(const std::vector<std::uint16_t>& ports) {
  std::string out;
  for (auto p : ports) out += (out.empty() ? "" : ", ") + std::to_string(p);
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : std::string(separator)) + i;
  return out;
}

}  // namespace

std::vector<NetworkPathFinding> find_network_paths(const std::vector<CheckRow>& rows,
                                                   const aws::NodeFacts* facts) {
  std::vector<NetworkPathFinding> findings;
  if (facts == nullptr || facts->vpc_cidrs.empty()) return findings;
  const int prefix = aws::ipv4_prefix_length(facts->subnet_cidr);
  if (prefix < 0) return findings;

  std::map<std::string, Subnet> subnets;
  // port -> an endpoint that connected, per subnet it connected in
  std::map<std::uint16_t, std::map<std::string, std::string>> connected_in;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const std::uint16_t port = tcp_port(row);
    const std::string& address = row.result.address;
    if (port == 0 || address.empty() || !facts->in_vpc(address)) continue;
    const Path path = path_of(row.result);
    if (path == Path::Unknown) continue;
    const bool own = aws::ipv4_in_cidr(address, facts->subnet_cidr);
    const std::string subnet = own ? facts->subnet_cidr : aws::ipv4_network(address, prefix);
    if (subnet.empty()) continue;  // IPv6: the subnet CIDR above is IPv4
    auto& s = subnets[subnet];
    s.addresses.insert(address);
    if (path == Path::Connected) {
      s.connected = true;
      connected_in[port].emplace(subnet, join_host_port(address, port));
    } else {
      s.failed_ports.insert(port);
      s.failed_rows.push_back(i);
    }
  }

  for (const auto& [cidr, s] : subnets) {
    if (cidr == facts->subnet_cidr || s.connected || s.failed_rows.empty()) continue;
    if (s.addresses.size() < 2) continue;
    NetworkPathFinding f;
    f.subnet = cidr;
    f.addresses.assign(s.addresses.begin(), s.addresses.end());
    f.ports.assign(s.failed_ports.begin(), s.failed_ports.end());
    for (auto port : f.ports) {
      auto it = connected_in.find(port);
      if (it == connected_in.end()) continue;
      for (const auto& [other, example] : it->second) {
        if (other == cidr) continue;
        f.ports_working_elsewhere.push_back(port);
        f.working_examples.push_back(example);
        break;
      }
    }
    if (f.ports_working_elsewhere.empty()) continue;
    f.rows = s.failed_rows;

    const std::string region = facts->region.empty() ? "" : " --region " + facts->region;
    const std::string own_subnet = facts->subnet_id.empty() ? "SUBNET_ID" : facts->subnet_id;
    f.why = fmt::format(
        "Not a rule missing on this node's security group: every TCP connection toward {} "
        "failed ({} addresses, ports {}), while ports {} connected to other subnets of the VPC "
        "({}). Security groups do not look at subnets; a network ACL (stateless: it must also "
        "let the answers back on ports 1024-65535) or a route table between this node's subnet "
        "{} ({}) and {} does. The other explanation with this shape: the peers there carry a "
        "security group of their own that admits nothing from this node's group. The lookups "
        "below tell which.",
        cidr, f.addresses.size(), join_ports(f.ports), join_ports(f.ports_working_elsewhere),
        join(f.working_examples, ", "), own_subnet, facts->subnet_cidr, cidr);
    std::string addresses;
    for (const auto& a : f.addresses) addresses += (addresses.empty() ? "" : ",") + a;
    f.lookups = {
        fmt::format("aws ec2 describe-network-interfaces{} --filters "
                    "Name=addresses.private-ip-address,Values={} --query "
                    "'NetworkInterfaces[].[PrivateIpAddress,SubnetId,Groups[].GroupId]'",
                    region, addresses),
        fmt::format("aws ec2 describe-network-acls{} --filters "
                    "Name=association.subnet-id,Values={},PEER_SUBNET_ID",
                    region, own_subnet),
        fmt::format("aws ec2 describe-route-tables{} --filters "
                    "Name=association.subnet-id,Values={},PEER_SUBNET_ID",
                    region, own_subnet),
    };
    if (!facts->vpc_id.empty()) {
      f.lookups.push_back(fmt::format(
          "aws ec2 describe-route-tables{} --filters Name=vpc-id,Values={} "
          "Name=association.main,Values=true  # the table of subnets without one of their own",
          region, facts->vpc_id));
    }
    findings.push_back(std::move(f));
  }
  return findings;
}

}  // namespace reachprobe
