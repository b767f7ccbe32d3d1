#!/usr/bin/env bash
# Builds the libFuzzer target (clang, ASan + UBSan) and fuzzes the C API for
# SECONDS (default 60), starting from the committed corpus
# tests/fuzz/corpus. New inputs go to build-fuzz/corpus, not into the tree;
# `cp build-fuzz/corpus/* tests/fuzz/corpus/` adopts them on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFW_BUILD_FUZZ=ON -DFW_BUILD_TESTS=OFF -DFW_BUILD_BENCH=OFF \
  -DFW_SANITIZE=address,undefined > /dev/null
cmake --build build-fuzz -j "$(nproc)"
mkdir -p build-fuzz/corpus tests/fuzz/corpus
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  build-fuzz/tests/fuzz/fuzz_api build-fuzz/corpus tests/fuzz/corpus \
  -max_total_time="$seconds" -max_len=4096 -artifact_prefix=build-fuzz/ -print_final_stats=1 2>&1 | tail -25
echo "fuzz ok: ${seconds}s without a failure"
