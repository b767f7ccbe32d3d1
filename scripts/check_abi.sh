#!/usr/bin/env bash
# Compares the exported ABI of libfastweights.so.1 with the committed
# baseline abi/libfastweights.so.1.abi (libabigail's abidw/abidiff, Debian
# package abigail-tools). Fails on a removed or changed function, variable
# or type reachable from them (or on a tool error); additions pass.
#   check_abi.sh            check
#   check_abi.sh --update   rewrite the baseline (an intended ABI change:
#                           commit the new file, with the reason)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-abi -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFW_BUILD_TESTS=OFF \
  -DFW_BUILD_BENCH=OFF > /dev/null
cmake --build build-abi -j "$(nproc)" > /dev/null
lib=build-abi/libfastweights.so.1
baseline=abi/libfastweights.so.1.abi
current=build-abi/libfastweights.so.1.abi
abidw --headers-dir include/fastweights --no-corpus-path --out-file "$current" "$lib"
if [ "${1:-}" = "--update" ]; then
  cp "$current" "$baseline"
  echo "ABI baseline rewritten: $baseline"
  exit 0
fi
set +e
abidiff --headers-dir2 include/fastweights "$baseline" "$current" > build-abi/abidiff.txt
rc=$?
set -e
cat build-abi/abidiff.txt
# abidiff's exit status is a bit field: 1 error, 2 usage, 4 change, 8
# incompatible change. A layout change of a struct we take by pointer only
# counts as "change" (4) to abidiff, so any removed or changed function or
# variable fails here too; only additions pass.
if (( rc & 11 )); then
  echo "ABI check FAILED (abidiff status $rc): incompatible with $baseline"
  exit 1
fi
if grep -Eq '([1-9][0-9]*) Removed|([1-9][0-9]*) Changed' build-abi/abidiff.txt; then
  echo "ABI check FAILED: a function or variable of $baseline was removed or changed"
  exit 1
fi
if (( rc & 4 )); then echo "ABI check ok: additions only (see above)"; else echo "ABI check ok: no change"; fi
