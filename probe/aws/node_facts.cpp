#include "probe/aws/node_facts.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

namespace reachprobe::aws {

namespace {

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
  in_addr address{};
  if (inet_pton(AF_INET, std::string(text).c_str(), &address) != 1) return std::nullopt;
  return ntohl(address.s_addr);
}

std::optional<std::pair<std::uint32_t, int>> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto base = parse_ipv4(text.substr(0, slash));
  const auto bits_text = text.substr(slash + 1);
  if (!base || bits_text.empty() || bits_text.size() > 2) return std::nullopt;
  int bits = 0;
  for (char c : bits_text) {
    if (c < '0' || c > '9') return std::nullopt;
    bits = bits * 10 + (c - '0');
  }
  if (bits > 32) return std::nullopt;
  return std::pair{*base, bits};
}

}  // namespace

bool is_cluster_security_group_name(std::string_view name) {
  return name.starts_with("eks-cluster-sg-");
}

const SecurityGroup* NodeFacts::cluster_security_group() const {
  auto it =
      std::find_if(security_groups.begin(), security_groups.end(),
                   [](const SecurityGroup& g) { return is_cluster_security_group_name(g.name); });
  return it == security_groups.end() ? nullptr : &*it;
}

bool names_node_group(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower.find("node") != std::string::npos;
}

std::string describe(const SecurityGroup& group) {
  return group.name.empty() ? group.id : group.id + " (" + group.name + ")";
}

NodeFacts::NodeGroupChoice NodeFacts::choose_node_security_group() const {
  NodeGroupChoice choice;
  std::vector<const SecurityGroup*> candidates;
  for (const auto& g : security_groups) {
    if (!is_cluster_security_group_name(g.name)) candidates.push_back(&g);
  }
  // By id: shorter first (the old 8-digit ids), then in order, so that the choice does not
  // depend on the order IMDS lists them in.
  const auto by_id = [](const SecurityGroup* a, const SecurityGroup* b) {
    return std::pair{a->id.size(), a->id} < std::pair{b->id.size(), b->id};
  };
  if (candidates.empty()) {
    for (const auto& g : security_groups) {
      if (choice.chosen == nullptr || by_id(&g, choice.chosen)) choice.chosen = &g;
    }
    return choice;
  }
  std::sort(candidates.begin(), candidates.end(), by_id);
  if (candidates.size() == 1) {
    choice.chosen = candidates.front();
    return choice;
  }
  const auto marked = static_cast<std::size_t>(
      std::count_if(candidates.begin(), candidates.end(),
                    [](const SecurityGroup* g) { return names_node_group(g->name); }));
  auto chosen = candidates.begin();
  if (marked > 0) {
    chosen = std::find_if(candidates.begin(), candidates.end(),
                          [](const SecurityGroup* g) { return names_node_group(g->name); });
  }
  choice.chosen = *chosen;
  const std::size_t n = candidates.size();
  if (marked == 1) {
    choice.reason = "the only one of this node's " + std::to_string(n) +
                    " security groups (besides the cluster group) whose name says \"node\"";
  } else if (marked > 1) {
    choice.reason = "the lowest id of the " + std::to_string(marked) + " of this node's " +
                    std::to_string(n) +
                    " security groups (besides the cluster group) whose names say \"node\"";
  } else {
    choice.reason = "the lowest id of this node's " + std::to_string(n) +
                    " security groups (besides the cluster group); no name says \"node\"";
  }
  candidates.erase(chosen);
  choice.others = std::move(candidates);
  return choice;
}

const SecurityGroup* NodeFacts::node_security_group() const {
  return choose_node_security_group().chosen;
}

bool NodeFacts::in_vpc(std::string_view ipv4) const {
  return std::any_of(vpc_cidrs.begin(), vpc_cidrs.end(),
                     [&](const std::string& cidr) { return ipv4_in_cidr(ipv4, cidr); });
}

bool is_region(std::string_view text) {
  // eu-west-1, us-gov-west-1, ap-southeast-3: lower-case words joined by '-', a number last.
  if (text.size() < 4 || text.size() > 32) return false;
  if (!std::all_of(text.begin(), text.end(),
                   [](char c) { return is_lower_alnum(c) || c == '-'; })) {
    return false;
  }
  const auto dash = text.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == text.size()) return false;
  const auto number = text.substr(dash + 1);
  return std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
         text.find("--") == std::string_view::npos && text.front() != '-';
}

bool is_availability_zone(std::string_view text) {
  // eu-west-1a, and Local Zones such as us-west-2-lax-1a.
  if (text.size() < 5 || text.size() > 64 || text.front() == '-' || text.back() == '-') {
    return false;
  }
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return is_lower_alnum(c) || c == '-'; });
}

bool is_aws_id(std::string_view text, std::string_view prefix) {
  if (!text.starts_with(prefix) || text.size() <= prefix.size() + 1 || text[prefix.size()] != '-') {
    return false;
  }
  const auto hex = text.substr(prefix.size() + 1);
  return hex.size() >= 8 && hex.size() <= 17 && std::all_of(hex.begin(), hex.end(), is_hex);
}

bool is_mac(std::string_view text) {
  if (text.size() != 17) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i % 3 == 2 ? text[i] != ':' : !is_hex(text[i])) return false;
  }
  return true;
}

bool is_account_id(std::string_view text) {
  return text.size() == 12 &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_ipv4_cidr(std::string_view text) { return parse_cidr(text).has_value(); }

int ipv4_prefix_length(std::string_view cidr) {
  auto block = parse_cidr(cidr);
  return block ? block->second : -1;
}

std::string ipv4_network(std::string_view ipv4, int prefix_length) {
  auto address = parse_ipv4(ipv4);
  if (!address || prefix_length < 0 || prefix_length > 32) return {};
  const std::uint32_t mask = prefix_length == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix_length);
  in_addr a{htonl(*address & mask)};
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, text, sizeof text);
  return std::string(text) + "/" + std::to_string(prefix_length);
}

bool ipv4_in_cidr(std::string_view ipv4, std::string_view cidr) {
  auto address = parse_ipv4(ipv4);
  auto block = parse_cidr(cidr);
  if (!address || !block) return false;
  const std::uint32_t mask = block->second == 0 ? 0 : ~std::uint32_t{0} << (32 - block->second);
  return (*address & mask) == (block->first & mask);
}

}  // namespace reachprobe::aws
