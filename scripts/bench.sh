#!/usr/bin/env bash
# The benchmark of docs/benchmarks.md: reachprobe against the kernel floor (raw epoll) and
# against Debian's prometheus-blackbox-exporter, all on loopback (127.77.0.0/24), in one run.
# Installs what is missing, builds into ./build-bench (RelWithDebInfo, as scripts/build.sh
# ships), runs tests/bench/bench.py and prints one table.
#
#   ./scripts/bench.sh            # full: 10,000 endpoints (1,000 for tls), 3 runs, about 15 minutes
#   ./scripts/bench.sh --quick    # a smoke of the harness, about 30 seconds
#   ./scripts/bench.sh --runs 5 --only tcp,scrape --out results.md
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
build_dir="${BENCH_BUILD_DIR:-build-bench}"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$build_dir" --parallel 2 --target reachprobe bench_listen bench_floor bench_client >&2
exec python3 tests/bench/bench.py --build-dir "$build_dir" "$@"
