#!/usr/bin/env bash
# clang-tidy over the given files (default: every probe/ source), with the build's
# compile_commands.json. Boost 1.74 detects coroutines for clang only with libc++, so the
# two macros tell Asio that libstdc++'s <coroutine> is there.
set -euo pipefail
cd "$(dirname "$0")/.."
files=("$@")
if ((${#files[@]} == 0)); then mapfile -t files < <(find probe -name '*.cpp' | sort); fi
clang-tidy -p build --quiet --extra-arg=-DBOOST_ASIO_HAS_CO_AWAIT \
  --extra-arg=-DBOOST_ASIO_HAS_STD_COROUTINE "${files[@]}"
