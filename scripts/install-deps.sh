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
  # benchmarks (scripts/bench.sh): the peer it is compared with
  prometheus-blackbox-exporter
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
