#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (every
# backend this CPU runs), the threaded tests under ThreadSanitizer, then
# valgrind memcheck on the C consumer.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFW_BUILD_BENCH=OFF \
  -DFW_SANITIZE=address,undefined > /dev/null
cmake --build build-asan -j "$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== ASan + UBSan"
build-asan/tests/cpp/fastweights_tests --gtest_brief=1
build-asan/tests/cpp/fastweights_alloc_tests --gtest_brief=1
build-asan/tests/cpp/fastweights_first_call
build-asan/tests/fastweights_c_consumer
echo "== ThreadSanitizer (the library's worker threads: the tests that run them)"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFW_BUILD_BENCH=OFF \
  -DFW_SANITIZE=thread > /dev/null
cmake --build build-tsan -j "$(nproc)"
# die_after_fork=0: ForkedChildComputesTheSame starts threads in a child.
TSAN_OPTIONS=halt_on_error=1:die_after_fork=0 build-tsan/tests/cpp/fastweights_tests --gtest_brief=1 \
  --gtest_filter='Concurrency*:*Determinism*:*ThreadCount*:StateModel*'
echo "== valgrind memcheck (C consumer, uninstrumented build)"
valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  build/tests/fastweights_c_consumer
echo "sanitizers ok"
