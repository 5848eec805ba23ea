#pragma once

#include <optional>
#include <string>
#include <vector>

namespace reachprobe::test {

// The RBAC authorizer of kube-apiserver, for one service account, over the Roles,
// ClusterRoles and their bindings of a set of manifests (`kubectl kustomize deploy/base`):
// what the fake API server asks before it answers a request, so a test against it fails
// when the shipped Roles lack a permission the daemon uses.
//
// Matching is kube-apiserver's (plugin/pkg/auth/authorizer/rbac): a RoleBinding grants its
// Role's (or ClusterRole's) rules in its own namespace, a ClusterRoleBinding grants its
// ClusterRole's rules everywhere; a rule matches when its apiGroups, resources and verbs
// each contain the request's value or "*", and its resourceNames are empty or contain the
// request's name (a list/watch carries a name only with fieldSelector=metadata.name=NAME).
// Subjects: the ServiceAccount itself, or the groups system:serviceaccounts,
// system:serviceaccounts:NAMESPACE and system:authenticated.
class RbacPolicy {
 public:
  // Parses multi-document YAML; objects of other kinds are ignored. Throws
  // std::runtime_error on YAML that does not parse or an RBAC object without its fields.
  static RbacPolicy from_manifests(const std::string& yaml, const std::string& sa_namespace,
                                   const std::string& sa_name);
  // `kubectl kustomize DIR` with the kubectl that deploy/validate-manifests.sh uses ($KUBECTL,
  // the PATH's, or deploy/tools/bin/kubectl under `source_dir`), then from_manifests. Throws
  // with kubectl's stderr when it fails; nullopt-like skip is the caller's: kubectl_path().
  static RbacPolicy from_kustomization(const std::string& dir, const std::string& source_dir,
                                       const std::string& sa_namespace, const std::string& sa_name);
  // The kubectl to use, or empty when there is none (tests skip).
  static std::string kubectl_path(const std::string& source_dir);

  // resource: "services", "pods/log" (core group) or "endpointslices.discovery.k8s.io"
  // (RESOURCE[/SUBRESOURCE].GROUP, as kubectl auth can-i writes it). namespace_name empty:
  // a cluster-scoped request. name empty: a request for no single object (list/watch
  // without a metadata.name field selector).
  bool allowed(const std::string& verb, const std::string& resource,
               const std::string& namespace_name, const std::string& name = "") const;

  // One line per granted rule, "NAMESPACE|*: verbs resources [names]", for test messages.
  std::string describe() const;

  struct Rule {
    std::vector<std::string> api_groups, resources, verbs, resource_names;
  };
  struct Grant {
    std::string namespace_name;  // empty: every namespace (a ClusterRoleBinding)
    Rule rule;
  };
  const std::vector<Grant>& grants() const { return grants_; }

 private:
  std::vector<Grant> grants_;
};

}  // namespace reachprobe::test
