#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for SECONDS (default 30) from its
# corpus in tests/fuzz/corpus/NAME. New inputs go to a scratch directory, not the repo;
# a crash leaves its input in build-fuzz/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
./scripts/install-deps.sh
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DREACHPROBE_FUZZ=ON -DREACHPROBE_WERROR=ON "${launcher[@]}" >/dev/null
cmake --build build-fuzz --parallel "$(nproc)"
for name in config env_expand dns_message http_request http_response watch_stream; do
  scratch="$(mktemp -d)"
  echo "== fuzz_$name for ${seconds}s"
  log="build-fuzz/fuzz_$name.log"
  set +e
  (cd build-fuzz && ASAN_OPTIONS=detect_leaks=1 "./tests/fuzz/fuzz_$name" \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
    "$scratch" "../tests/fuzz/corpus/$name") >"$log" 2>&1
  status=$?
  set -e
  grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::new_units_added)|ERROR|SUMMARY|Test unit written" "$log" || true
  rm -rf "$scratch"
  found="$(find build-fuzz -maxdepth 1 \( -name 'crash-*' -o -name 'timeout-*' -o -name 'leak-*' -o -name 'oom-*' \))"
  if [[ -n "$found" || "$status" -ne 0 ]]; then
    echo "fuzz_$name failed (exit $status); failing inputs: ${found:-none written}"
    exit 1
  fi
done
echo "fuzzing: no failures"
