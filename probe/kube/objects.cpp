#include "probe/kube/objects.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/property_tree/ptree.hpp>
#include <charconv>
#include <set>

namespace reachprobe::kube {

namespace pt = boost::property_tree;

namespace {

// JSON `null`, or a missing key, reads as "no value"; property_tree keeps both as text.
std::optional<std::string> text_at(const pt::ptree& tree, const std::string& path) {
  auto child = tree.get_child_optional(pt::ptree::path_type(path, '.'));
  if (!child || !child->empty()) return std::nullopt;
  if (child->data() == "null") return std::nullopt;
  return child->data();
}

// A JSON boolean; nullopt when absent or null; an error text when something else.
std::variant<std::optional<bool>, std::string> bool_at(const pt::ptree& tree,
                                                       const std::string& path) {
  auto value = text_at(tree, path);
  if (!value) return std::optional<bool>{};
  if (*value == "true") return std::optional<bool>{true};
  if (*value == "false") return std::optional<bool>{false};
  return "'" + path + "' is not a boolean";
}

bool is_ip(const std::string& text, bool v6) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(text, ec);
  return !ec && address.is_v6() == v6;
}

// spec.ports of a Service or ports of an EndpointSlice: a port without a number (a slice
// may say "all ports" with null) cannot be probed and is left out.
std::variant<std::vector<DiscoveredPort>, std::string> parse_ports(const pt::ptree& object,
                                                                   const std::string& path,
                                                                   bool service = false) {
  std::vector<DiscoveredPort> ports;
  auto list = object.get_child_optional(pt::ptree::path_type(path, '.'));
  if (!list || (list->empty() && list->data() == "null")) return ports;
  if (list->empty() && !list->data().empty()) return "'" + path + "' is not a list";
  for (const auto& [key, item] : *list) {
    if (!key.empty()) return "'" + path + "' is not a list";
    auto number = text_at(item, "port");
    if (!number) continue;
    auto port = port_number(*number);
    if (!port) return "'" + path + "' has port " + *number + ", not a number from 1 to 65535";
    DiscoveredPort p;
    p.port = *port;
    p.name = text_at(item, "name").value_or("");
    p.protocol = text_at(item, "protocol").value_or("TCP");
    if (service) p.target_port = text_at(item, "targetPort").value_or("");
    ports.push_back(std::move(p));
  }
  return ports;
}

std::variant<ParsedObject, std::string> parse_slice(const pt::ptree& object) {
  ParsedObject parsed;
  const auto type = text_at(object, "addressType").value_or("");
  // FQDN slices (deprecated) hold names, not addresses: nothing to probe.
  if (type == "FQDN") return parsed;
  if (type != "IPv4" && type != "IPv6") {
    return "EndpointSlice " + parsed.name + " has addressType '" + type + "'";
  }
  const bool v6 = type == "IPv6";
  auto ports = parse_ports(object, "ports");
  if (auto* problem = std::get_if<std::string>(&ports)) return *problem;
  parsed.group.ports = std::move(std::get<std::vector<DiscoveredPort>>(ports));
  auto endpoints = object.get_child_optional("endpoints");
  if (!endpoints || (endpoints->empty() && endpoints->data() == "null")) return parsed;
  if (endpoints->empty() && !endpoints->data().empty()) return "'endpoints' is not a list";
  std::set<std::string> seen;
  for (const auto& [key, endpoint] : *endpoints) {
    if (!key.empty()) return "'endpoints' is not a list";
    auto addresses = endpoint.get_child_optional("addresses");
    if (!addresses) return "an endpoint has no 'addresses'";
    DiscoveredAddress base;
    for (auto [path, field] :
         {std::pair{"conditions.ready", &DiscoveredAddress::ready},
          std::pair{"conditions.serving", &DiscoveredAddress::serving},
          std::pair{"conditions.terminating", &DiscoveredAddress::terminating}}) {
      auto value = bool_at(endpoint, path);
      if (auto* problem = std::get_if<std::string>(&value)) return *problem;
      if (auto b = std::get<std::optional<bool>>(value)) base.*field = *b;
    }
    // serving defaults to ready, terminating to false (the API's rules for absent values).
    if (!text_at(endpoint, "conditions.serving")) base.serving = base.ready;
    base.node = text_at(endpoint, "nodeName").value_or("");
    base.zone = text_at(endpoint, "zone").value_or("");
    for (const auto& [index, address] : *addresses) {
      if (!index.empty() || !address.empty()) return "'addresses' is not a list of strings";
      if (!is_ip(address.data(), v6)) {
        return "address '" + address.data().substr(0, 64) + "' is not an " + type + " address";
      }
      // An address listed twice in one slice is one endpoint.
      if (!seen.insert(address.data()).second) continue;
      DiscoveredAddress a = base;
      a.ip = address.data();
      parsed.group.addresses.push_back(std::move(a));
    }
  }
  return parsed;
}

std::variant<ParsedObject, std::string> parse_service(const pt::ptree& object) {
  ParsedObject parsed;
  auto ports = parse_ports(object, "spec.ports", true);
  if (auto* problem = std::get_if<std::string>(&ports)) return *problem;
  parsed.group.ports = std::move(std::get<std::vector<DiscoveredPort>>(ports));
  // clusterIPs (dual stack) when present, else clusterIP; "None" is a headless Service.
  std::vector<std::string> ips;
  if (auto list = object.get_child_optional("spec.clusterIPs"); list && !list->empty()) {
    for (const auto& [key, ip] : *list) {
      if (!key.empty() || !ip.empty()) return "'spec.clusterIPs' is not a list of strings";
      ips.push_back(ip.data());
    }
  } else if (auto ip = text_at(object, "spec.clusterIP")) {
    ips.push_back(*ip);
  }
  for (const auto& ip : ips) {
    if (ip == "None" || ip.empty()) continue;
    if (!is_ip(ip, ip.find(':') != std::string::npos)) {
      return "ClusterIP '" + ip.substr(0, 64) + "' is not an IP address";
    }
    DiscoveredAddress a;
    a.ip = ip;
    parsed.group.addresses.push_back(std::move(a));
  }
  return parsed;
}

// The port of a service reference: absent or null is the API's default, 443.
std::variant<std::uint16_t, std::string> reference_port(const pt::ptree& service,
                                                        const std::string& where) {
  auto number = text_at(service, "port");
  if (!number) return std::uint16_t{443};
  auto port = port_number(*number);
  if (!port) return where + " has port " + number->substr(0, 16) + ", not a number from 1 to 65535";
  return *port;
}

// webhooks[].clientConfig of a Validating- or MutatingWebhookConfiguration.
std::variant<ParsedObject, std::string> parse_webhook_configuration(const pt::ptree& object) {
  ParsedObject parsed;
  auto webhooks = object.get_child_optional("webhooks");
  if (!webhooks || (webhooks->empty() && webhooks->data() == "null")) return parsed;
  if (webhooks->empty() && !webhooks->data().empty()) return "'webhooks' is not a list";
  for (const auto& [key, webhook] : *webhooks) {
    if (!key.empty()) return "'webhooks' is not a list";
    ServiceReference reference;
    reference.webhook = text_at(webhook, "name").value_or("");
    const std::string where = "webhook '" + reference.webhook.substr(0, 64) + "'";
    if (auto service = webhook.get_child_optional("clientConfig.service");
        service && !(service->empty() && service->data() == "null")) {
      reference.namespace_name = text_at(*service, "namespace").value_or("");
      reference.service = text_at(*service, "name").value_or("");
      if (reference.namespace_name.empty() || reference.service.empty()) {
        return where + ": clientConfig.service needs namespace and name";
      }
      auto port = reference_port(*service, where);
      if (auto* problem = std::get_if<std::string>(&port)) return *problem;
      reference.port = std::get<std::uint16_t>(port);
    } else if (auto url = text_at(webhook, "clientConfig.url")) {
      reference.url = *url;
    } else {
      return where + " has neither clientConfig.service nor clientConfig.url";
    }
    parsed.group.references.push_back(std::move(reference));
  }
  return parsed;
}

// spec.service of an APIService; none (null) is an API kube-apiserver serves itself.
std::variant<ParsedObject, std::string> parse_api_service(const pt::ptree& object) {
  ParsedObject parsed;
  auto service = object.get_child_optional("spec.service");
  if (!service || (service->empty() && service->data() == "null")) return parsed;
  ServiceReference reference;
  reference.namespace_name = text_at(*service, "namespace").value_or("");
  reference.service = text_at(*service, "name").value_or("");
  if (reference.namespace_name.empty() || reference.service.empty()) {
    return "spec.service needs namespace and name";
  }
  auto port = reference_port(*service, "spec.service");
  if (auto* problem = std::get_if<std::string>(&port)) return *problem;
  reference.port = std::get<std::uint16_t>(port);
  parsed.group.references.push_back(std::move(reference));
  return parsed;
}

std::string_view kind_of(Resource resource) {
  switch (resource) {
    case Resource::EndpointSlices:
      return "EndpointSlice";
    case Resource::Services:
      return "Service";
    case Resource::ValidatingWebhookConfigurations:
      return "ValidatingWebhookConfiguration";
    case Resource::MutatingWebhookConfigurations:
      return "MutatingWebhookConfiguration";
    case Resource::ApiServices:
      return "APIService";
  }
  return "Service";
}

}  // namespace

std::optional<std::uint16_t> port_number(std::string_view text) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

std::string_view kind_name(Resource resource) { return kind_of(resource); }

std::string SourceKey::to_string() const {
  if (cluster_scoped(resource)) return std::string(kube::to_string(resource));
  return std::string(kube::to_string(resource)) + "/" + namespace_name + "/" + service;
}

std::string_view SourceKey::rbac_resource() const {
  switch (resource) {
    case Resource::EndpointSlices:
      return "endpointslices.discovery.k8s.io";
    case Resource::Services:
      return "services";
    case Resource::ValidatingWebhookConfigurations:
      return "validatingwebhookconfigurations.admissionregistration.k8s.io";
    case Resource::MutatingWebhookConfigurations:
      return "mutatingwebhookconfigurations.admissionregistration.k8s.io";
    case Resource::ApiServices:
      return "apiservices.apiregistration.k8s.io";
  }
  return "services";
}

std::string SourceKey::list_path() const {
  switch (resource) {
    case Resource::ValidatingWebhookConfigurations:
      return "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations";
    case Resource::MutatingWebhookConfigurations:
      return "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";
    case Resource::ApiServices:
      return "/apis/apiregistration.k8s.io/v1/apiservices";
    case Resource::EndpointSlices:
    case Resource::Services:
      break;
  }
  if (resource == Resource::EndpointSlices) {
    return "/apis/discovery.k8s.io/v1/namespaces/" + namespace_name +
           "/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D" + service;
  }
  return "/api/v1/namespaces/" + namespace_name + "/services?fieldSelector=metadata.name%3D" +
         service;
}

SourceKey source_of(const Target& target) {
  return SourceKey{target.discover->addresses == DiscoverAddresses::ClusterIp
                       ? Resource::Services
                       : Resource::EndpointSlices,
                   target.discover->namespace_name, target.discover->service};
}

std::optional<SourceKey> backends_source_of(const Target& target) {
  // Only connects are refused by kube-proxy's reject; a dns probe's refusal is the server's.
  if (!target.discover || target.discover->addresses != DiscoverAddresses::ClusterIp ||
      (target.type != ProbeType::Tcp && target.type != ProbeType::Tls)) {
    return std::nullopt;
  }
  return SourceKey{Resource::EndpointSlices, target.discover->namespace_name,
                   target.discover->service};
}

std::size_t DiscoveredSet::ready_count() const {
  std::set<std::string_view> ips;
  for (const auto& [name, group] : objects) {
    for (const auto& a : group.addresses) {
      if (a.ready) ips.insert(a.ip);
    }
  }
  return ips.size();
}

std::size_t DiscoveredSet::address_count() const {
  std::set<std::string_view> ips;
  for (const auto& [name, group] : objects) {
    for (const auto& a : group.addresses) ips.insert(a.ip);
  }
  return ips.size();
}

std::variant<ParsedObject, std::string> parse_object(const pt::ptree& object, Resource resource) {
  const auto kind = text_at(object, "kind");
  const std::string_view want = kind_of(resource);
  // Watch events carry kind; list items usually do not.
  if (kind && *kind != want)
    return "an object of kind '" + kind->substr(0, 64) + "', not " + std::string(want);
  auto name = text_at(object, "metadata.name");
  if (!name || name->empty()) return std::string(want) + " without metadata.name";
  std::variant<ParsedObject, std::string> parsed;
  switch (resource) {
    case Resource::EndpointSlices:
      parsed = parse_slice(object);
      break;
    case Resource::Services:
      parsed = parse_service(object);
      break;
    case Resource::ValidatingWebhookConfigurations:
    case Resource::MutatingWebhookConfigurations:
      parsed = parse_webhook_configuration(object);
      break;
    case Resource::ApiServices:
      parsed = parse_api_service(object);
      break;
  }
  if (auto* problem = std::get_if<std::string>(&parsed)) {
    return std::string(want) + " " + *name + ": " + *problem;
  }
  auto& result = std::get<ParsedObject>(parsed);
  result.name = *name;
  result.resource_version = text_at(object, "metadata.resourceVersion").value_or("");
  return parsed;
}

std::variant<ParsedList, std::string> parse_list(const pt::ptree& list, Resource resource) {
  const std::string want = std::string(kind_of(resource)) + "List";
  const auto kind = text_at(list, "kind");
  if (kind != want)
    return "expected a " + want + ", got kind '" + kind.value_or("").substr(0, 64) + "'";
  ParsedList parsed;
  parsed.resource_version = text_at(list, "metadata.resourceVersion").value_or("");
  if (parsed.resource_version.empty()) return want + " without metadata.resourceVersion";
  auto items = list.get_child_optional("items");
  if (!items || (items->empty() && items->data() == "null")) return parsed;
  if (items->empty() && !items->data().empty()) return "'items' is not a list";
  for (const auto& [key, item] : *items) {
    if (!key.empty()) return "'items' is not a list";
    auto object = parse_object(item, resource);
    if (auto* problem = std::get_if<std::string>(&object)) return *problem;
    auto& parsed_object = std::get<ParsedObject>(object);
    parsed.objects[parsed_object.name] = std::move(parsed_object.group);
  }
  return parsed;
}

std::optional<StatusObject> parse_status(const pt::ptree& object) {
  if (text_at(object, "kind") != "Status") return std::nullopt;
  StatusObject status;
  auto code = text_at(object, "code");
  if (code) std::from_chars(code->data(), code->data() + code->size(), status.code);
  status.reason = text_at(object, "reason").value_or("");
  status.message = text_at(object, "message").value_or("");
  return status;
}

}  // namespace reachprobe::kube
