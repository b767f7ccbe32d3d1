#!/usr/bin/env bash
# The main job: install, build, and run the throughput benchmark on this CPU,
# then turn its JSON into a Markdown table and a PNG plot.
# Arguments go to the benchmark (e.g. --benchmark_filter=delta).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
# Peer (d), ggml, where its source is beside the project (FW_PEERS_DIR,
# default ../shared/peers): unpacked into build/peers and built with the
# benchmark. Without it the benchmark runs without that peer.
peers="${FW_PEERS_DIR:-../shared/peers}"
ggml_args=()
for tarball in "$peers"/ggml-*.tar.gz; do
  [ -f "$tarball" ] || continue
  mkdir -p build/peers && tar xzf "$tarball" -C build/peers
  ggml_args=(-DFW_GGML_SOURCE="$PWD/build/peers/ggml")
done
bash scripts/build.sh "${ggml_args[@]}"
mkdir -p build/results
./build/bench/fastweights_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_out=build/results/bench.json --benchmark_out_format=json "$@"
"${PYTHON:-/usr/bin/python3}" scripts/bench_report.py build/results/bench.json \
  --markdown build/results/report.md --plot build/results/report.png
echo "results: build/results/bench.json, report.md, report.png"
