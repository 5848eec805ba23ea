#!/usr/bin/env bash
# Builds and runs the whole test suite under sanitizers: `address` (ASan + UBSan, with
# LeakSanitizer) and `thread` (TSan: the daemon runs its event loop and a metrics-rendering
# thread, the tests run servers on threads). Usage: scripts/sanitize.sh [address|thread]...
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
kinds=("$@")
if ((${#kinds[@]} == 0)); then kinds=(address thread); fi
for kind in "${kinds[@]}"; do
  case "$kind" in
    address) flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined" ;;
    # GCC warns that TSan does not model std::atomic_thread_fence, which Asio's handler
    # memory recycling uses; TSan still checks everything else.
    thread) flags="-fsanitize=thread -Wno-tsan" ;;
    *) echo "unknown sanitizer: $kind" >&2; exit 2 ;;
  esac
  dir="build-$kind"
  # -O1 -g1 (the build type "Sanitize" adds no flags of its own): line numbers in reports at a
  # fraction of the compile time of full debug info.
  # GCC 12 sees uninitialized std::function state inside std::regex only under sanitizer
  # instrumentation; the plain build keeps that warning as an error.
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Sanitize \
    -DCMAKE_CXX_FLAGS="$flags -O1 -g1 -fno-omit-frame-pointer -Wno-maybe-uninitialized" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
  cmake --build "$dir" --parallel "$(nproc)"
  echo "== tests under the $kind sanitizer"
  # The soak runs shorter: sanitized probes cost several times more CPU.
  REACHPROBE_SOAK_PROBES=30000 REACHPROBE_SOAK_SANITIZED=1 \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    ctest --test-dir "$dir" --output-on-failure --timeout 300
done
