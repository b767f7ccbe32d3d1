#!/usr/bin/env bash
# The backends this CPU may lack, run under emulation (qemu-user, Bochs):
#  - aarch64: cross-built with g++-aarch64-linux-gnu (GoogleTest from
#    /usr/src/googletest, no hwloc), the whole suite under qemu-aarch64; the
#    NEON backend must be the one selected.
#  - x86-64 without AVX: the native test binary under qemu-x86_64 -cpu
#    Westmere; the library must load, select scalar and pass (no SIGILL).
#  - AVX-512: a Linux guest under Bochs (full-system emulation), see
#    tests/emulated/avx512.sh; the avx512 backend must be the one selected.
# Expects build/ from scripts/build.sh. Usage: test_emulated.sh [neon|noavx|avx512]...
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(neon noavx avx512)
for t in "${targets[@]}"; do
  case "$t" in
    neon)
      echo "== NEON: aarch64 cross build, tests under qemu-aarch64"
      cmake -S . -B build-aarch64 -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
        -DFW_WITH_HWLOC=OFF -DFW_BUILD_BENCH=OFF -DFW_GTEST_FROM_SOURCE=ON > /dev/null
      cmake --build build-aarch64 -j "$(nproc)"
      # FW_UNDER_QEMU_USER: the fork test skips (qemu-user cannot start
      # threads in a forked child of a threaded guest).
      run=(env FW_UNDER_QEMU_USER=1 qemu-aarch64 -L /usr/aarch64-linux-gnu)
      FW_EXPECT_BACKEND=neon "${run[@]}" build-aarch64/tests/cpp/fastweights_tests --gtest_brief=1
      "${run[@]}" build-aarch64/tests/fastweights_c_consumer
      ;;
    noavx)
      echo "== scalar fallback: x86-64 tests under qemu-x86_64 -cpu Westmere (no AVX)"
      run=(env FW_UNDER_QEMU_USER=1 qemu-x86_64 -cpu Westmere)
      FW_EXPECT_BACKEND=scalar "${run[@]}" build/tests/cpp/fastweights_tests --gtest_brief=1
      "${run[@]}" build/tests/fastweights_c_consumer
      ;;
    avx512)
      echo "== AVX-512: native tests in a Linux guest under Bochs"
      bash tests/emulated/avx512.sh build
      ;;
    *) echo "unknown target $t (neon|noavx|avx512)"; exit 2 ;;
  esac
done
