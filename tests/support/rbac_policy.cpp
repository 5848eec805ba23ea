#include "tests/support/rbac_policy.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <stdexcept>

#include "tests/support/child_process.hpp"

namespace reachprobe::test {
namespace {

bool contains(const std::vector<std::string>& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}
bool contains_or_star(const std::vector<std::string>& values, const std::string& value) {
  return contains(values, value) || contains(values, "*");
}

std::vector<std::string> strings(const YAML::Node& node, const std::string& what) {
  std::vector<std::string> out;
  if (!node) return out;
  if (!node.IsSequence()) throw std::runtime_error(what + " must be a list");
  for (const auto& item : node) out.push_back(item.as<std::string>());
  return out;
}

std::string scalar(const YAML::Node& node, const std::string& key, const std::string& what) {
  if (!node[key] || !node[key].IsScalar()) throw std::runtime_error(what + " has no " + key);
  return node[key].as<std::string>();
}

struct Role {
  std::string kind;  // Role | ClusterRole
  std::string namespace_name;
  std::string name;
  std::vector<RbacPolicy::Rule> rules;
};

}  // namespace

RbacPolicy RbacPolicy::from_manifests(const std::string& yaml, const std::string& sa_namespace,
                                      const std::string& sa_name) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(yaml);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(std::string("manifests do not parse: ") + e.what());
  }
  // (kind, namespace, name) -> role; bindings resolved after every role is known.
  std::map<std::tuple<std::string, std::string, std::string>, Role> roles;
  std::vector<YAML::Node> bindings;
  for (const auto& doc : docs) {
    if (!doc.IsMap() || !doc["kind"]) continue;
    const auto kind = doc["kind"].as<std::string>();
    if (kind != "Role" && kind != "ClusterRole" && kind != "RoleBinding" &&
        kind != "ClusterRoleBinding") {
      continue;
    }
    const auto& metadata = doc["metadata"];
    if (!metadata || !metadata.IsMap()) throw std::runtime_error(kind + " without metadata");
    const auto name = scalar(metadata, "name", kind);
    const std::string ns = metadata["namespace"] ? metadata["namespace"].as<std::string>() : "";
    if ((kind == "Role" || kind == "RoleBinding") && ns.empty()) {
      throw std::runtime_error(kind + " " + name + " has no namespace");
    }
    if (kind == "RoleBinding" || kind == "ClusterRoleBinding") {
      bindings.push_back(doc);
      continue;
    }
    Role role{kind, kind == "Role" ? ns : "", name, {}};
    if (doc["rules"]) {
      for (const auto& r : doc["rules"]) {
        const std::string what = kind + " " + name;
        role.rules.push_back({strings(r["apiGroups"], what + " apiGroups"),
                              strings(r["resources"], what + " resources"),
                              strings(r["verbs"], what + " verbs"),
                              strings(r["resourceNames"], what + " resourceNames")});
      }
    }
    roles[{kind, role.namespace_name, name}] = std::move(role);
  }

  const std::vector<std::string> groups = {
      "system:serviceaccounts", "system:serviceaccounts:" + sa_namespace, "system:authenticated"};
  RbacPolicy policy;
  for (const auto& b : bindings) {
    const auto kind = b["kind"].as<std::string>();
    const auto binding_ns =
        kind == "RoleBinding" ? b["metadata"]["namespace"].as<std::string>() : std::string();
    const auto what = kind + " " + b["metadata"]["name"].as<std::string>();
    bool subject_matches = false;
    for (const auto& s : b["subjects"]) {
      const auto subject_kind = scalar(s, "kind", what + " subject");
      const auto subject_name = scalar(s, "name", what + " subject");
      if (subject_kind == "ServiceAccount") {
        // kube-apiserver requires the namespace of a ServiceAccount subject.
        const std::string ns = s["namespace"] ? s["namespace"].as<std::string>() : "";
        subject_matches |= ns == sa_namespace && subject_name == sa_name;
      } else if (subject_kind == "Group") {
        subject_matches |= contains(groups, subject_name);
      }
    }
    if (!subject_matches) continue;
    const auto& ref = b["roleRef"];
    if (!ref) throw std::runtime_error(what + " has no roleRef");
    const auto ref_kind = scalar(ref, "kind", what + " roleRef");
    const auto ref_name = scalar(ref, "name", what + " roleRef");
    if (kind == "ClusterRoleBinding" && ref_kind != "ClusterRole") {
      throw std::runtime_error(what + " refers to a " + ref_kind);
    }
    // A binding to a role that is not in the manifests grants nothing, as in a cluster.
    auto it = roles.find({ref_kind, ref_kind == "Role" ? binding_ns : "", ref_name});
    if (it == roles.end()) continue;
    for (const auto& rule : it->second.rules) policy.grants_.push_back({binding_ns, rule});
  }
  return policy;
}

std::string RbacPolicy::kubectl_path(const std::string& source_dir) {
  if (const char* env = std::getenv("KUBECTL"); env && *env) return env;
  auto r = run_command({"/bin/sh", "-c", "command -v kubectl"}, std::chrono::seconds(10));
  if (r.exit_code == 0 && !r.out.empty()) return r.out.substr(0, r.out.find('\n'));
  const auto bundled = source_dir + "/deploy/tools/bin/kubectl";
  if (std::filesystem::exists(bundled)) return bundled;
  return "";
}

RbacPolicy RbacPolicy::from_kustomization(const std::string& dir, const std::string& source_dir,
                                          const std::string& sa_namespace,
                                          const std::string& sa_name) {
  const auto kubectl = kubectl_path(source_dir);
  if (kubectl.empty()) throw std::runtime_error("no kubectl (scripts/install-deps.sh)");
  auto r = run_command({kubectl, "kustomize", dir}, std::chrono::seconds(60));
  if (r.exit_code != 0) throw std::runtime_error("kubectl kustomize " + dir + ": " + r.err);
  return from_manifests(r.out, sa_namespace, sa_name);
}

bool RbacPolicy::allowed(const std::string& verb, const std::string& resource,
                         const std::string& namespace_name, const std::string& name) const {
  // "endpointslices.discovery.k8s.io" -> ("endpointslices", "discovery.k8s.io"); the
  // subresource stays with the resource ("pods/log").
  const auto dot = resource.find('.');
  const std::string plain = dot == std::string::npos ? resource : resource.substr(0, dot);
  const std::string group = dot == std::string::npos ? "" : resource.substr(dot + 1);
  return std::any_of(grants_.begin(), grants_.end(), [&](const Grant& g) {
    if (!g.namespace_name.empty() && g.namespace_name != namespace_name) return false;
    const auto& r = g.rule;
    if (!contains_or_star(r.api_groups, group) || !contains_or_star(r.verbs, verb)) return false;
    if (!contains_or_star(r.resources, plain)) return false;
    if (r.resource_names.empty()) return true;
    return !name.empty() && contains(r.resource_names, name);
  });
}

std::string RbacPolicy::describe() const {
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + (s.empty() ? "\"\"" : s);
    return out;
  };
  std::string out;
  for (const auto& g : grants_) {
    out += (g.namespace_name.empty() ? "*" : g.namespace_name) + ": " + join(g.rule.verbs) + " " +
           join(g.rule.resources) + " (" + join(g.rule.api_groups) + ")";
    if (!g.rule.resource_names.empty()) out += " [" + join(g.rule.resource_names) + "]";
    out += "\n";
  }
  return out;
}

}  // namespace reachprobe::test
