#!/usr/bin/env bash
# Renders every kustomization under deploy/ with `kubectl kustomize`, and the Helm chart
# with `helm template` (its defaults and deploy/helm/values-kube-prometheus-stack.yaml), and
# validates each object against the Kubernetes OpenAPI schemas and the prometheus-operator
# CRD schemas (deploy/tools/validate.mjs). Exit 0: all valid; 1: a render or an object failed;
# 77: a tool is missing (kubectl, helm, node, or deploy/tools/node_modules).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# kubectl: $KUBECTL, else the PATH's, else the one scripts/install-deps.sh put in deploy/tools/bin.
kubectl="${KUBECTL:-kubectl}"
if ! command -v "$kubectl" >/dev/null 2>&1 && [[ -x "$root/deploy/tools/bin/kubectl" ]]; then
  kubectl="$root/deploy/tools/bin/kubectl"
fi
if ! command -v "$kubectl" >/dev/null 2>&1; then
  echo "skip: no kubectl (its built-in kustomize renders deploy/)" >&2
  exit 77
fi
if ! command -v node >/dev/null 2>&1 || [[ ! -d "$root/deploy/tools/node_modules" ]]; then
  echo "skip: node or deploy/tools/node_modules missing (scripts/install-deps.sh installs them)" >&2
  exit 77
fi
helm="${HELM:-$root/deploy/tools/bin/helm}"
if [[ ! -x "$helm" ]]; then
  echo "skip: no helm at $helm (scripts/install-deps.sh installs it)" >&2
  exit 77
fi
status=0
while read -r kustomization; do
  dir="$(dirname "$kustomization")"
  echo "== ${dir#"$root"/}"
  if ! rendered="$("$kubectl" kustomize "$dir")"; then
    echo "render failed: $dir" >&2
    status=1
    continue
  fi
  node "$root/deploy/tools/validate.mjs" <<<"$rendered" || status=1
done < <(find "$root/deploy" -name kustomization.yaml -not -path '*/node_modules/*' | sort)
chart="$root/deploy/helm/reachprobe"
for values in "" "$root/deploy/helm/values-kube-prometheus-stack.yaml"; do
  echo "== helm template deploy/helm/reachprobe${values:+ -f ${values#"$root"/}}"
  if ! rendered="$("$helm" template reachprobe "$chart" --namespace reachprobe ${values:+-f "$values"})"; then
    echo "render failed: $chart $values" >&2
    status=1
    continue
  fi
  node "$root/deploy/tools/validate.mjs" <<<"$rendered" || status=1
done
exit "$status"
