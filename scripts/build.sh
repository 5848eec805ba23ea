#!/usr/bin/env bash
# Installs what is missing (Debian 12 packages), then configures ./build and builds the
# daemon only (./build/reachprobe); scripts/test.sh builds the rest. Extra arguments are
# targets, e.g. `./scripts/build.sh all` or `./scripts/build.sh reachprobe_tests`.
# BUILD_TYPE (default RelWithDebInfo) picks the CMake build type; warnings are errors here
# (REACHPROBE_WERROR), as in CI. ccache is used when installed.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
build_type="${BUILD_TYPE:-RelWithDebInfo}"
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$build_type" -DREACHPROBE_WERROR=ON \
  "${launcher[@]}" >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then targets=(reachprobe); fi
cmake --build build --parallel "$(nproc)" --target "${targets[@]}"
