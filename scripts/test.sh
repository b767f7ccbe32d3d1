#!/usr/bin/env bash
# Installs, builds and runs every test: GoogleTest (every backend this CPU
# runs), the C11 consumer, the export check, the install check and the
# Python binding tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
echo "== C++ and C tests (ctest)"
(cd build && ctest -j "$(nproc)" --output-on-failure)
echo "== install check"
bash scripts/check_install.sh
echo "== Python binding tests"
FASTWEIGHTS_LIBRARY="$PWD/build/libfastweights.so" python3 -m pytest -q tests/python
