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
# These builds carry line tables (-g1), and ccache hashes the build directory into such
# objects unless told not to: without this, no two work trees (nor CI's clone) share them.
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
# The gtest filter that selects the suites of the integration test files whose path matches $1
# and not $2 (either may be empty).
integration_suites() {
  local f files=()
  for f in tests/integration/*_test.cpp; do
    if [[ -n "$1" && ! "$f" =~ $1 ]] || [[ -n "$2" && "$f" =~ $2 ]]; then continue; fi
    files+=("$f")
  done
  grep -ohE '^TEST(_F)?\([A-Za-z0-9_]+' "${files[@]}" | sed -E 's/.*\(//; s/$/.*/' | sort -u | paste -sd:
}
# The soak runs shorter: sanitized probes cost several times more CPU.
export REACHPROBE_SOAK_PROBES=30000 REACHPROBE_SOAK_SANITIZED=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
for kind in "${kinds[@]}"; do
  case "$kind" in
    # ASan + UBSan: every unit test; the integration tests but those of the deploy manifests,
    # of Prometheus's rule evaluation, the EKS e2e and the image (no parser or daemon code of
    # ours runs there that the discovery, outage and binary tests do not run too; the image
    # holds the plain build).
    address)
      build_type=RelWithDebInfo
      unit_matching=''
      integration_matching=''
      integration_skipping='tests/integration/(deploy|eks_e2e|image|prometheus)_test\.cpp$'
      ;;
    # TSan: the threaded parts (the HTTP server and its clients, the metrics sink and its
    # rendering thread, logging, the scheduler, discovery against the API server stand-in's
    # thread, the daemon as a process under load, reload and discovery).
    # MinSizeRel, so CI builds every type but Debug (docs/development.md, "Build").
    thread)
      build_type=MinSizeRel
      unit_matching='tests/(engine/scheduler|http/server[a-z_]*|kube/discovery|log/logging|sinks/metrics_sink)_test\.cpp$'
      integration_matching='tests/integration/(binary|discovery_binary|reload|soak)_test\.cpp$'
      integration_skipping=''
      ;;
    *) echo "unknown sanitizer: $kind" >&2; exit 2 ;;
  esac
  dir="build-$kind"
  # The integration tests are a harness around the daemon's process: the plain build's harness
  # drives the sanitized daemon (REACHPROBE_TEST_BINARY), so the sanitizer build compiles the
  # daemon and the unit tests only. SANITIZE_ALL_TESTS=1 builds and runs everything sanitized,
  # one process per test through ctest.
  all="${SANITIZE_ALL_TESTS:-0}"
  if [[ "$all" == 1 ]]; then
    matching='' skipping=''
  else
    matching="$unit_matching" skipping='tests/integration/'
  fi
  # -U: a build directory of this script's earlier versions has the flags in its cache.
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" -DREACHPROBE_WERROR=ON \
    -UCMAKE_CXX_FLAGS -UCMAKE_EXE_LINKER_FLAGS \
    -DREACHPROBE_SANITIZER="$kind" \
    -DREACHPROBE_TESTS_MATCHING="$matching" -DREACHPROBE_TESTS_SKIPPING="$skipping" "${launcher[@]}" >/dev/null
  # Only what the tests run: no benchmark programs.
  targets=(reachprobe reachprobe_tests)
  if [[ "$all" == 1 ]]; then targets+=(reachprobe_integration_tests); fi
  cmake --build "$dir" --parallel "$(nproc)" --target "${targets[@]}"
  echo "== tests under the $kind sanitizer"
  if [[ "$all" == 1 ]]; then
    ctest --test-dir "$dir" --output-on-failure --timeout 300
    continue
  fi
  # The harness: the plain build's (scripts/test.sh makes it; built here when it is missing).
  if [[ -f build/CMakeCache.txt ]]; then
    cmake --build build --parallel "$(nproc)" --target reachprobe_integration_tests
  else
    ./scripts/build.sh reachprobe_integration_tests
  fi
  # Each test binary as one process: a start of the ASan unit test binary costs 0.3 s, which
  # ctest pays once per test. gtest prints each test as it starts, so a hang or crash shows
  # which one; the limit covers the whole binary. (The test binaries set the IMDS stand-in
  # environment themselves: tests/support/suite_environment.cpp.)
  echo "== unit tests ($dir/tests/reachprobe_tests)"
  timeout --kill-after=30 1500 "$dir/tests/reachprobe_tests"
  suites="$(integration_suites "$integration_matching" "$integration_skipping")"
  echo "== integration tests against $dir/reachprobe: $suites"
  REACHPROBE_TEST_BINARY="$PWD/$dir/reachprobe" timeout --kill-after=30 1500 \
    build/tests/reachprobe_integration_tests --gtest_filter="$suites"
done
