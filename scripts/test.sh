#!/usr/bin/env bash
# Installs, builds everything and runs the whole test suite (extra arguments go to ctest).
# Tests that need root (network namespaces, nftables) skip with a message when not root;
# CI runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh all
ctest --test-dir build --output-on-failure --timeout 300 "$@"
