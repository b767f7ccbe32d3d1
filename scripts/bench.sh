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
# FW_BENCH_TRANSFORMERS=1: also the PyTorch peers (torch and transformers at
# the pinned versions, `install_deps.sh --test`): the fallback's scan against
# ours, and transformers' own Qwen3-Next layer and model with and without
# patch_transformers() (about 20 minutes more on one thread).
python=${PYTHON:-/usr/bin/python3}
peers=()
if [ "${FW_BENCH_TRANSFORMERS:-0}" = "1" ]; then
  "$python" bench/peers/transformers_peer.py --threads 1 --json build/results/transformers.json
  "$python" bench/peers/transformers_layer.py --threads 1 --json build/results/transformers_layer.json
  peers=(--transformers build/results/transformers.json
         --transformers-layer build/results/transformers_layer.json)
fi
"$python" scripts/bench_report.py build/results/bench.json "${peers[@]}" \
  --markdown build/results/report.md --plot build/results/report.png
echo "results: build/results/bench.json, report.md, report.png"
