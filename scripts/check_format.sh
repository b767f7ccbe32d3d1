#!/usr/bin/env bash
# Fails if a tracked C or C++ file differs from .clang-format's layout.
#   check_format.sh         lists the files that differ (exit 1 if any)
#   check_format.sh --fix   reformats them in place
# The Linux module under tests/emulated/xstate_module is kernel code and
# keeps the kernel's own style.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' '*.cpp' '*.hpp' | grep -v '^tests/emulated/xstate_module/')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=0
for f in "${files[@]}"; do
  if ! clang-format "$f" | cmp -s - "$f"; then
    echo "not formatted: $f (bash scripts/check_format.sh --fix)"
    bad=1
  fi
done
[ "$bad" -eq 0 ] && echo "format: ${#files[@]} files follow .clang-format"
exit "$bad"
