#!/usr/bin/env python3
"""Peer (e): what a Qwen3-Next / Qwen3.5 user gets on a CPU without fla, Hugging
Face transformers' PyTorch fallback (torch_chunk_gated_delta_rule, chunk 64,
and torch_recurrent_gated_delta_rule from
transformers.models.qwen3_next.modeling_qwen3_next), against this library's
chunk_gated_delta_rule / fused_recurrent_gated_delta_rule on the same inputs,
in one process. torch and transformers come from pip, at the versions the
tests pin (scripts/install_deps.sh --test installs them: torch==2.15.0,
transformers==5.23.0).

    python3 bench/peers/transformers_peer.py [--threads 1] [--reps 5] [--json out.json]

Shapes: the main one (B=1, T=4096, H=HV=16, K=V=128), Qwen3-Next's layer
(H=16, HV=32) and Qwen3.5-0.8B's (H=HV=16) at T in {512, 4096}, B in {1, 4},
and one decode step at B=64, HV=32. As the modeling code does, q and k are
repeated to HV heads (repeat_interleave: value head j reads q/k head
j // (HV / H), as fla and this library pair them). Outputs must agree before
anything is timed. Prints one Markdown row per shape; --json writes them for
scripts/bench_report.py.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import transformers
from transformers.models.qwen3_next import modeling_qwen3_next as qwen3_next

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import fastweights as fw  # noqa: E402


def inputs(B, T, H, HV, K, seed=0):
    """The benchmark's inputs (bench/scan_problem.hpp's ranges): unit keys,
    log-decays in [-0.1, 0], beta in [0.1, 0.9]."""
    r = np.random.default_rng(seed)
    q = r.uniform(-1, 1, (B, T, H, K)).astype(np.float32)
    k = r.uniform(-1, 1, (B, T, H, K)).astype(np.float32)
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    v = r.uniform(-1, 1, (B, T, HV, K)).astype(np.float32)
    g = r.uniform(-0.1, 0, (B, T, HV)).astype(np.float32)
    beta = r.uniform(0.1, 0.9, (B, T, HV)).astype(np.float32)
    return q, k, v, g, beta


def paired_median_times(a, b, reps):
    """Median seconds of a() and of b(), called in turn: on a shared machine
    separate runs drift apart by more than the ratio's last digit."""
    a(), b()  # warm-up: first-touch, thread pools
    ta, tb = [], []
    for _ in range(reps):
        for fn, times in ((a, ta), (b, tb)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return sorted(ta)[reps // 2], sorted(tb)[reps // 2]


def compare(B, T, H, HV, K, reps, decode):
    q, k, v, g, beta = inputs(B, T, H, HV, K)
    G = HV // H
    tq, tk = (torch.from_numpy(x).repeat_interleave(G, dim=2) for x in (q, k))
    tv, tg, tb = (torch.from_numpy(x) for x in (v, g, beta))
    state = np.zeros((B, HV, K, K), np.float32)
    if decode:
        peer = lambda: qwen3_next.torch_recurrent_gated_delta_rule(  # noqa: E731
            tq, tk, tv, tg, tb, initial_state=torch.from_numpy(state), output_final_state=True)
        ours = lambda: fw.fused_recurrent_gated_delta_rule(  # noqa: E731
            q, k, v, g, beta=beta, initial_state=state, output_final_state=True)
    else:
        peer = lambda: qwen3_next.torch_chunk_gated_delta_rule(  # noqa: E731
            tq, tk, tv, tg, tb, chunk_size=64, output_final_state=True)
        ours = lambda: fw.chunk_gated_delta_rule(q, k, v, g, beta, output_final_state=True)
    with torch.no_grad():
        o_t, s_t = peer()
        o_f, s_f = ours()
        scale = np.abs(o_f).max()
        err = max(np.abs(o_t.numpy() - o_f).max(), np.abs(s_t.numpy() - s_f).max()) / scale
        if not err < 1e-3:
            raise SystemExit(f"transformers' fallback and fastweights disagree: {err:.3g}")
        t_peer, t_ours = paired_median_times(peer, ours, reps)
    return dict(B=B, T=T, H=H, HV=HV, K=K, form="recurrent" if decode else "chunked",
                transformers_tokens_s=B * T / t_peer, fastweights_tokens_s=B * T / t_ours,
                ratio=t_peer / t_ours, rel_diff=float(err))


def print_versions(threads):
    """The console header: what ran, on how many threads."""
    print(f"transformers {transformers.__version__}, PyTorch {torch.__version__}, fastweights "
          f"{fw.version()} ({fw.backend()}), {threads} thread(s)\n")


def write_rows(path, threads, rows):
    """The --json file scripts/bench_report.py reads: the versions and rows."""
    with open(path, "w") as f:
        json.dump(dict(threads=threads, transformers=transformers.__version__,
                       torch=torch.__version__, backend=fw.backend(), rows=rows), f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    fw.set_num_threads(args.threads)
    shapes = [(1, 4096, 16, 16, 128, False)]
    shapes += [(B, T, 16, HV, 128, False) for B in (1, 4) for T in (512, 4096) for HV in (32, 16)
               if (B, T, HV) != (1, 4096, 16)]
    shapes += [(64, 1, 16, 32, 128, True)]
    print_versions(args.threads)
    print("| form | B | T | H | HV | K=V | transformers tokens/s | fastweights tokens/s | x |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for B, T, H, HV, K, decode in shapes:
        r = compare(B, T, H, HV, K, args.reps, decode)
        rows.append(r)
        print(f"| {r['form']} | {B} | {T} | {H} | {HV} | {K} | {r['transformers_tokens_s']:,.0f} | "
              f"{r['fastweights_tokens_s']:,.0f} | {r['ratio']:.1f} |", flush=True)
    if args.json:
        write_rows(args.json, args.threads, rows)


if __name__ == "__main__":
    main()
