#!/usr/bin/env bash
# Fails if the shared library exports anything but fw_* symbols, or lacks
# the SONAME libfastweights.so.<major>.
set -euo pipefail
lib=${1:?usage: check_exports.sh path/to/libfastweights.so}
bad=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | grep -v '^fw_' || true)
if [ -n "$bad" ]; then
  echo "exported symbols outside fw_*:"; echo "$bad"; exit 1
fi
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
case "$soname" in
  libfastweights.so.[0-9]*) ;;
  *) echo "unexpected SONAME: '$soname'"; exit 1 ;;
esac
echo "exports ok: $(nm -D --defined-only "$lib" | grep -c ' T fw_') fw_* functions, SONAME $soname"
