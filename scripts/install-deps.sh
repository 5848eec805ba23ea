#!/usr/bin/env bash
# Installs the Debian 12 packages reachprobe needs to build and test. Idempotent: only
# missing packages are installed, so a ready machine does no network traffic at all.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libboost-all-dev libc-ares-dev prometheus-cpp-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libssl-dev libgtest-dev libgmock-dev libbenchmark-dev
  # test tools: promtool, a real DNS server, network namespaces and firewall rules, curl
  prometheus dnsmasq-base nftables iproute2 curl openssl
  # deploy/ checks: node runs the Kubernetes schema validator of deploy/tools
  nodejs
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Debian's nodejs comes without npm (NodeSource's has it built in).
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
if ((${#missing[@]} > 0)); then
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# The npm packages of deploy/tools (Kubernetes and prometheus-operator schemas), as pinned
# by its package-lock.json; only when node_modules is missing or older than the lock.
tools="$(cd "$(dirname "$0")/.." && pwd)/deploy/tools"
if [[ ! "$tools/node_modules/.package-lock.json" -nt "$tools/package-lock.json" ]]; then
  echo "installing: npm packages of deploy/tools" >&2
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
