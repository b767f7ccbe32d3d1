#!/usr/bin/env bash
# ODR / SIGILL guard (DESIGN.md §3): disassembles the library and fails if
#  - a ymm register appears in a function outside fw::avx2:: / fw::avx512::,
#  - a zmm register (or an opmask k-register) outside fw::avx512::,
#  - any VEX/EVEX instruction (mnemonic v...) outside those two backends:
#    a baseline function compiled once with -mavx2 and merged by the linker
#    would still use VEX-encoded xmm code and fault on a CPU without AVX.
# Functions are attributed by their demangled names: every kernel
# instantiation carries its backend's namespace (fw::avx2::(anonymous
# namespace)::Tag) in its template arguments.
set -euo pipefail
lib=${1:?usage: check_isa_symbols.sh path/to/libfastweights.so}
objdump -d -C --no-show-raw-insn "$lib" | awk '
  /^[0-9a-f]+ <.*>:$/ { fn = $0; sub(/^[0-9a-f]+ </, "", fn); sub(/>:$/, "", fn); next }
  /^ *[0-9a-f]+:\t/ {
    split($0, parts, "\t"); insn = parts[2]
    avx512 = index(fn, "fw::avx512::") > 0
    avx2 = index(fn, "fw::avx2::") > 0
    what = ""
    if (insn ~ /zmm|%k[1-7]/ && !avx512) what = " zmm/opmask"
    else if (insn ~ /ymm/ && !avx2 && !avx512) what = " ymm"
    else if (insn ~ /^v[a-z0-9]+ / && !avx2 && !avx512) what = " vex"
    if (what != "" && index(bad[fn], what) == 0) bad[fn] = bad[fn] what
    if (avx512) n512++; else if (avx2) n2++; else nbase++
  }
  END {
    nbad = 0
    for (f in bad) { print "ISA leak in " f ":" bad[f]; nbad++ }
    if (n2 == 0 || n512 == 0) { print "no fw::avx2:: / fw::avx512:: code found: wrong library?"; nbad++ }
    if (nbad) exit 1
    printf "isa symbols ok: %d avx2, %d avx512, %d baseline instructions\n", n2, n512, nbase
  }'
