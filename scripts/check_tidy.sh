#!/usr/bin/env bash
# clang-tidy over the library's own sources (src/, dispatch/, kernels/) with
# .clang-tidy's checks; any finding fails. Needs build/compile_commands.json
# (scripts/build.sh writes it).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/compile_commands.json ] || { echo "run scripts/build.sh first"; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! run-clang-tidy -p build -quiet -j "$(nproc)" '/(src|dispatch|kernels)/' > "$log" 2>&1; then
  grep -E "(warning|error): " "$log" | sort -u || cat "$log"
  echo "clang-tidy: findings above"
  exit 1
fi
echo "clang-tidy: $(grep -c '^clang-tidy' "$log") files, no findings"
