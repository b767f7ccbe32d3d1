#!/usr/bin/env bash
# Installs, builds and runs every test: GoogleTest on every backend this CPU
# runs, the C11 consumer, the export and ISA checks, the install check, the
# Python binding tests (numpy, torch, transformers), the wheel check, the ABI
# baseline check, ASan + UBSan and valgrind,
# a minute of fuzzing, then NEON (qemu-aarch64), the no-AVX scalar
# fallback (qemu-x86_64 -cpu Westmere) and AVX-512 in a Linux guest under
# Bochs (tests/emulated/avx512.sh). FW_QUICK=1 runs only the first seven
# (the format and clang-tidy checks among them).
# Any failure stops the run with a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh --test
bash scripts/build.sh
suites=0
# Runs one suite; any failure ends the script (a bare `cmd && ...` would not,
# set -e exempts && lists).
suite() {
  echo "== $1"
  shift
  "$@" || { echo "suites: $suites passed, 1 failed"; exit 1; }
  suites=$((suites + 1))
}
suite "C++ and C tests (ctest)" bash -c 'cd build && ctest -j "$(nproc)" --output-on-failure'
suite "install check" bash scripts/check_install.sh
# Debian's python3 has python3-numpy and python3-pytest; PYTHON picks another.
# FW_REQUIRE_TORCH: the torch tests fail rather than skip without torch.
suite "Python binding tests" env FASTWEIGHTS_LIBRARY="$PWD/build/libfastweights.so" \
  FW_REQUIRE_TORCH=1 "${PYTHON:-/usr/bin/python3}" -m pytest -q tests/python
suite "pip wheel, installed in a fresh venv" bash scripts/check_wheel.sh
suite "ABI baseline" bash scripts/check_abi.sh
suite "format (.clang-format)" bash scripts/check_format.sh
suite "clang-tidy (.clang-tidy)" bash scripts/check_tidy.sh
if [ "${FW_QUICK:-0}" != "1" ]; then
  suite "ASan + UBSan, valgrind" bash scripts/test_sanitizers.sh
  suite "fuzzing the C API" bash scripts/fuzz.sh "${FW_FUZZ_SECONDS:-60}"
  suite "NEON under qemu-aarch64" bash scripts/test_emulated.sh neon
  suite "no-AVX scalar under qemu-x86_64" bash scripts/test_emulated.sh noavx
  suite "AVX-512 under Bochs" bash scripts/test_emulated.sh avx512
fi
echo "suites: $suites passed, 0 failed"
