#!/usr/bin/env bash
# ODR / SIGILL guard (docs/design.md, "Dispatch"): disassembles the library
# and fails if a function uses a vector register wider than its ISA allows,
# or any VEX/EVEX instruction (mnemonic v...) outside an AVX ISA: a baseline
# function compiled once with -mavx2 and merged by the linker would still
# use VEX-encoded xmm code and fault on a CPU without AVX.
# The ISAs and the widest register each may use come from
# kernels/isa/isa_list.h (the one list); code outside every fw::<isa>::
# namespace is baseline (xmm, no VEX). Functions are attributed by their
# demangled names: every kernel instantiation carries its backend's
# namespace (fw::avx2::(anonymous namespace)::Tag) in its template arguments.
# Half-precision operands: the AVX backends must convert fp16 with F16C's
# vcvtph2ps / vcvtps2ph (a backend that fell back to lane-by-lane C++ would
# pass the tests, slower), and no AVX512-BF16 or AVX512-FP16 instruction may
# appear anywhere: no backend is compiled for them, and vcvtneps2bf16
# flushes subnormals, which would change results (docs/decisions.md).
set -euo pipefail
lib=${1:?usage: check_isa_symbols.sh path/to/libfastweights.so}
list="$(dirname "$0")/../kernels/isa/isa_list.h"
# "name widest" per x86 ISA row, e.g. "avx2 ymm".
isas=$(sed -n 's/^ *X(\([a-z0-9]*\), [A-Z0-9_]*, x86_64, "[^"]*", [a-z0-9_]*, \([a-z]*\)).*/\1 \2/p' "$list")
[ -n "$isas" ] || { echo "no x86 ISA rows read from $list"; exit 1; }
objdump -d -C --no-show-raw-insn "$lib" | awk -v isas="$isas" '
  BEGIN {
    n = split(isas, field, /[ \n]+/)
    for (i = 1; i + 1 <= n; i += 2) { widest["fw::" field[i] "::"] = field[i + 1]; names[++m] = field[i] }
  }
  /^[0-9a-f]+ <.*>:$/ {
    fn = $0; sub(/^[0-9a-f]+ </, "", fn); sub(/>:$/, "", fn)
    isa = ""; w = "xmm"
    for (ns in widest) if (index(fn, ns) > 0) { isa = ns; w = widest[ns] }
    next
  }
  /^ *[0-9a-f]+:\t/ {
    split($0, parts, "\t"); insn = parts[2]
    what = ""
    if (insn ~ /zmm|%k[1-7]/ && w != "zmm") what = " zmm/opmask"
    else if (insn ~ /ymm/ && w != "ymm" && w != "zmm") what = " ymm"
    else if (insn ~ /^v[a-z0-9]+ / && w == "xmm") what = " vex"
    else if (insn ~ /^v(cvtneps2bf16|cvtne2ps2bf16|dpbf16ps|cvtph2psx|cvtps2phx) / ||
             (insn ~ /^v(add|sub|mul|div|fmadd|fmsub|fnmadd|fnmsub|max|min|sqrt|rcp|rsqrt|scalef|rndscale|cmp|cvt|mov)[a-z0-9]*(ph|sh)x? / &&
              insn !~ /^vcvtps2ph /)) what = " avx512-bf16/fp16"
    if (insn ~ /^vcvt(ph2ps|ps2ph) /) f16c[isa]++
    if (what != "" && index(bad[fn], what) == 0) bad[fn] = bad[fn] what
    count[isa == "" ? "baseline" : isa]++
  }
  END {
    nbad = 0
    for (f in bad) { print "ISA leak in " f ":" bad[f]; nbad++ }
    line = ""
    for (i = 1; i <= m; i++) {
      c = count["fw::" names[i] "::"] + 0
      if (c == 0 && widest["fw::" names[i] "::"] != "xmm") {
        print "no fw::" names[i] ":: code found: wrong library?"; nbad++
      }
      if (widest["fw::" names[i] "::"] != "xmm" && f16c["fw::" names[i] "::"] + 0 == 0) {
        print "no vcvtph2ps / vcvtps2ph in fw::" names[i] "::: fp16 converted lane by lane?"; nbad++
      }
      line = line sprintf("%d %s, ", c, names[i])
    }
    if (nbad) exit 1
    printf "isa symbols ok: %s%d baseline instructions; F16C conversions: %d avx2, %d avx512\n", line, count["baseline"], f16c["fw::avx2::"], f16c["fw::avx512::"]
  }'
