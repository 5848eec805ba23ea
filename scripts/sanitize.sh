#!/usr/bin/env bash
# Builds and runs the tests under sanitizers: `address` (ASan + UBSan, with LeakSanitizer)
# and `thread` (TSan: the daemon runs its event loop and a metrics-rendering thread, the
# tests run servers on threads). Usage: scripts/sanitize.sh [address|thread]...
# Each sanitizer builds and runs the tests that matter under it (docs/development.md, "What runs
# where in CI"); SANITIZE_ALL_TESTS=1 builds and runs the whole suite under each instead.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
kinds=("$@")
if ((${#kinds[@]} == 0)); then kinds=(address thread); fi
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
for kind in "${kinds[@]}"; do
  case "$kind" in
    # ASan + UBSan: everything but the checks of the deploy manifests, of Prometheus's rule
    # evaluation and the EKS e2e (no parser or daemon code of ours runs there that the
    # discovery, outage and binary tests do not run too).
    address)
      build_type=RelWithDebInfo
      matching=''
      skipping='tests/integration/(deploy|eks_e2e|prometheus)_test\.cpp$'
      ;;
    # TSan: the threaded parts (the HTTP server and its clients, the metrics sink and its
    # rendering thread, logging, the scheduler, discovery against the API server stand-in's
    # thread, the daemon as a process under load, reload and discovery).
    # MinSizeRel, so CI builds every type but Debug (docs/development.md, "Build").
    thread)
      build_type=MinSizeRel
      matching='tests/(engine/scheduler|http/server[a-z_]*|kube/discovery|log/logging|sinks/metrics_sink|integration/(binary|discovery_binary|reload|soak))_test\.cpp$'
      skipping=''
      ;;
    *) echo "unknown sanitizer: $kind" >&2; exit 2 ;;
  esac
  if [[ "${SANITIZE_ALL_TESTS:-0}" == 1 ]]; then matching='' skipping=''; fi
  dir="build-$kind"
  # -U: a build directory of this script's earlier versions has the flags in its cache.
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" -DREACHPROBE_WERROR=ON \
    -UCMAKE_CXX_FLAGS -UCMAKE_EXE_LINKER_FLAGS \
    -DREACHPROBE_SANITIZER="$kind" \
    -DREACHPROBE_TESTS_MATCHING="$matching" -DREACHPROBE_TESTS_SKIPPING="$skipping" "${launcher[@]}" >/dev/null
  # Only what the tests run: no benchmark programs.
  targets=(reachprobe reachprobe_tests)
  if grep -q '^reachprobe_integration_tests:' <(cmake --build "$dir" --target help); then
    targets+=(reachprobe_integration_tests)
  fi
  cmake --build "$dir" --parallel "$(nproc)" --target "${targets[@]}"
  echo "== tests under the $kind sanitizer"
  # The soak runs shorter: sanitized probes cost several times more CPU.
  REACHPROBE_SOAK_PROBES=30000 REACHPROBE_SOAK_SANITIZED=1 \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    ctest --test-dir "$dir" --output-on-failure --timeout 300
done
