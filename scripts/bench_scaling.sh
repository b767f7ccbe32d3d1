#!/usr/bin/env bash
# Thread scaling on a many-core host: every chunked scan at H = HV = 32,
# T = 4096, B in {1, 4}, decode at B = 64, and ggml's gated_delta_net where
# it was built, on 1, 2, 4, ... threads up to the physical cores, then
# the report. Run after scripts/bench.sh (it uses that build).
#   bash scripts/bench_scaling.sh [more benchmark arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
cores=$(lscpu -p=core,socket | grep -v "^#" | sort -u | wc -l)  # physical cores
threads=1
t=2
while [ "$t" -le "$cores" ]; do threads="$threads,$t"; t=$((t * 2)); done
[ "${threads##*,}" = "$cores" ] || threads="$threads,$cores"
mkdir -p build/results
FW_BENCH_THREADS="$threads" ./build/bench/fastweights_bench --benchmark_filter='scaling' \
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_out=build/results/scaling.json --benchmark_out_format=json "$@"
"${PYTHON:-/usr/bin/python3}" scripts/bench_report.py build/results/scaling.json \
  --markdown build/results/scaling.md
echo "results: build/results/scaling.json, scaling.md (threads $threads)"
