#!/usr/bin/env bash
# Installs what is missing (Debian 12 packages), then configures and builds into ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
build_type="${BUILD_TYPE:-RelWithDebInfo}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$build_type" >/dev/null
cmake --build build --parallel "$(nproc)"
