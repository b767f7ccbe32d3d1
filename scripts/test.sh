#!/usr/bin/env bash
# Installs, builds and runs every test: GoogleTest on every backend this CPU
# runs, the C11 consumer, the export and ISA checks, the install check, the
# Python binding tests, then NEON (qemu-aarch64) and the no-AVX scalar
# fallback (qemu-x86_64 -cpu Westmere). FW_SKIP_EMULATED=1 skips the last two.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh --emulation
bash scripts/build.sh
echo "== C++ and C tests (ctest)"
(cd build && ctest -j "$(nproc)" --output-on-failure)
echo "== install check"
bash scripts/check_install.sh
echo "== Python binding tests"
# Debian's python3 has python3-numpy and python3-pytest; PYTHON picks another.
FASTWEIGHTS_LIBRARY="$PWD/build/libfastweights.so" "${PYTHON:-/usr/bin/python3}" -m pytest -q tests/python
if [ "${FW_SKIP_EMULATED:-0}" != "1" ]; then
  bash scripts/test_emulated.sh neon noavx
fi
