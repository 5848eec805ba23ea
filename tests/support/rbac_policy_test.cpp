#include "tests/support/rbac_policy.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace reachprobe::test {
namespace {

const std::string kRoles = R"(
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: watcher, namespace: kube-system}
rules:
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
  - apiGroups: [""]
    resources: [services]
    resourceNames: [kube-dns]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: watcher, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: watcher}
subjects: [{kind: ServiceAccount, name: reachprobe, namespace: reachprobe}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pods, namespace: reachprobe}
rules:
  - apiGroups: [""]
    resources: [pods/proxy, pods/log]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: pods, namespace: reachprobe}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pods}
subjects: [{kind: ServiceAccount, name: reachprobe, namespace: reachprobe}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-rbac, namespace: reachprobe}
data: {rules: "verbs: ['*']"}
)";

TEST(RbacPolicy, ARoleBindingGrantsItsRulesInItsNamespaceOnly) {
  const auto p = RbacPolicy::from_manifests(kRoles, "reachprobe", "reachprobe");
  EXPECT_TRUE(p.allowed("list", "endpointslices.discovery.k8s.io", "kube-system"));
  EXPECT_TRUE(p.allowed("watch", "endpointslices.discovery.k8s.io", "kube-system"));
  EXPECT_FALSE(p.allowed("get", "endpointslices.discovery.k8s.io", "kube-system"));
  EXPECT_FALSE(p.allowed("list", "endpointslices.discovery.k8s.io", "default"));
  EXPECT_FALSE(p.allowed("list", "endpointslices.discovery.k8s.io", ""));  // cluster-wide
  // The group is part of the resource: endpointslices of another group are not these.
  EXPECT_FALSE(p.allowed("list", "endpointslices", "kube-system"));
  EXPECT_TRUE(p.allowed("get", "pods/proxy", "reachprobe"));
  EXPECT_TRUE(p.allowed("get", "pods/log", "reachprobe"));
  EXPECT_FALSE(p.allowed("get", "pods", "reachprobe"));  // a subresource is not the resource
  EXPECT_FALSE(p.allowed("get", "pods/exec", "reachprobe"));
  EXPECT_FALSE(p.allowed("get", "pods/log", "kube-system"));
}

TEST(RbacPolicy, ResourceNamesNeedTheRequestToNameTheObject) {
  const auto p = RbacPolicy::from_manifests(kRoles, "reachprobe", "reachprobe");
  EXPECT_TRUE(p.allowed("list", "services", "kube-system", "kube-dns"));
  EXPECT_TRUE(p.allowed("watch", "services", "kube-system", "kube-dns"));
  EXPECT_FALSE(p.allowed("list", "services", "kube-system", "metrics-server"));
  // A list of every Service of the namespace names none: not allowed by a named rule.
  EXPECT_FALSE(p.allowed("list", "services", "kube-system"));
}

TEST(RbacPolicy, OtherSubjectsGetNothing) {
  EXPECT_FALSE(RbacPolicy::from_manifests(kRoles, "reachprobe", "someone-else")
                   .allowed("list", "endpointslices.discovery.k8s.io", "kube-system"));
  EXPECT_FALSE(RbacPolicy::from_manifests(kRoles, "other-namespace", "reachprobe")
                   .allowed("list", "endpointslices.discovery.k8s.io", "kube-system"));
}

TEST(RbacPolicy, AClusterRoleBindingGrantsEverywhereAndWildcardsMatch) {
  const auto p = RbacPolicy::from_manifests(R"(
kind: ClusterRole
apiVersion: rbac.authorization.k8s.io/v1
metadata: {name: read-all}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: [list]}]
---
kind: ClusterRoleBinding
apiVersion: rbac.authorization.k8s.io/v1
metadata: {name: read-all}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: read-all}
subjects: [{kind: Group, name: "system:serviceaccounts:reachprobe", apiGroup: rbac.authorization.k8s.io}]
)",
                                            "reachprobe", "reachprobe");
  EXPECT_TRUE(p.allowed("list", "secrets", "kube-system"));
  EXPECT_TRUE(p.allowed("list", "endpointslices.discovery.k8s.io", ""));
  EXPECT_FALSE(p.allowed("watch", "secrets", "kube-system"));
}

TEST(RbacPolicy, AClusterRoleBoundByARoleBindingGrantsInThatNamespace) {
  const auto p = RbacPolicy::from_manifests(R"(
kind: ClusterRole
apiVersion: rbac.authorization.k8s.io/v1
metadata: {name: view-slices}
rules: [{apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}]
---
kind: RoleBinding
apiVersion: rbac.authorization.k8s.io/v1
metadata: {name: view-slices, namespace: monitoring}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view-slices}
subjects: [{kind: ServiceAccount, name: reachprobe, namespace: reachprobe}]
---
kind: RoleBinding
apiVersion: rbac.authorization.k8s.io/v1
metadata: {name: dangling, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: not-in-the-manifests}
subjects: [{kind: ServiceAccount, name: reachprobe, namespace: reachprobe}]
)",
                                            "reachprobe", "reachprobe");
  EXPECT_TRUE(p.allowed("watch", "endpointslices.discovery.k8s.io", "monitoring"));
  EXPECT_FALSE(p.allowed("watch", "endpointslices.discovery.k8s.io", "default"));
  EXPECT_EQ(p.grants().size(), 1u) << p.describe();
  EXPECT_EQ(p.describe(), "monitoring: list,watch endpointslices (discovery.k8s.io)\n");
}

TEST(RbacPolicy, BrokenManifestsAreAnErrorNotAnEmptyPolicy) {
  EXPECT_THROW(RbacPolicy::from_manifests("kind: Role\nmetadata: {name: x\n", "a", "b"),
               std::runtime_error);
  EXPECT_THROW(RbacPolicy::from_manifests("kind: Role\nmetadata: {name: x}\nrules: []\n", "a", "b"),
               std::runtime_error);  // a Role without a namespace
  EXPECT_THROW(
      RbacPolicy::from_manifests("kind: RoleBinding\nmetadata: {name: x, namespace: n}\nsubjects:\n"
                                 "  - {kind: ServiceAccount, name: b, namespace: a}\n",
                                 "a", "b"),
      std::runtime_error);  // no roleRef
}

}  // namespace
}  // namespace reachprobe::test
