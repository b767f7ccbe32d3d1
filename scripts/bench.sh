#!/usr/bin/env bash
# The main job: install, build, and run the throughput benchmark on this CPU.
# Arguments go to the benchmark (e.g. --benchmark_filter=delta).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
mkdir -p build/results
./build/bench/fastweights_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_out=build/results/bench.json --benchmark_out_format=json "$@"
echo "JSON results: build/results/bench.json"
