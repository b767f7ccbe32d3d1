#!/usr/bin/env python3
"""Peer (b): the scans written plainly in PyTorch on the CPU, on the shapes
of bench/fastweights_bench, timed against this library's Python binding in
the same process. PyTorch comes from pip (`pip install torch`: a large
download, benchmarks only; never part of the test run).

    python3 bench/peers/torch_peer.py [--threads 1] [--T 4096] [--H 16] [--K 128] [--chunk 0]

Chunked forms follow docs/design.md (--chunk for both, WY form for the delta rule,
the triangular solve by torch.linalg.solve_triangular); recurrent forms loop
over tokens. Prints one Markdown row per op and form with tokens/s for
PyTorch and fastweights and their ratio.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import fastweights as fw  # noqa: E402


def chunk_linear_attn(q, k, v, scale, C=64):
    B, T, H, K = q.shape
    V = v.shape[-1]
    q, k, v = (x.transpose(1, 2) for x in (q, k, v))  # [B, H, T, D]
    S = q.new_zeros(B, H, K, V)
    o = torch.empty_like(v)
    mask = torch.ones(C, C, dtype=torch.bool).tril()
    for c0 in range(0, T, C):
        qc, kc, vc = q[:, :, c0:c0 + C] * scale, k[:, :, c0:c0 + C], v[:, :, c0:c0 + C]
        L = qc.shape[2]
        A = (qc @ kc.transpose(-1, -2)).masked_fill(~mask[:L, :L], 0)
        o[:, :, c0:c0 + C] = qc @ S + A @ vc
        S = S + kc.transpose(-1, -2) @ vc
    return o.transpose(1, 2)


def chunk_delta_rule(q, k, v, beta, scale, C=64):
    B, T, H, K = q.shape
    V = v.shape[-1]
    q, k, v = (x.transpose(1, 2) for x in (q, k, v))
    beta = beta.transpose(1, 2)
    S = q.new_zeros(B, H, K, V)
    o = torch.empty_like(v)
    eye = torch.eye(C)
    for c0 in range(0, T, C):
        qc, kc, vc, bc = q[:, :, c0:c0 + C] * scale, k[:, :, c0:c0 + C], v[:, :, c0:c0 + C], beta[:, :, c0:c0 + C, None]
        L = qc.shape[2]
        A = (bc * (kc @ kc.transpose(-1, -2))).tril(-1)
        IA = eye[:L, :L] + A
        W = torch.linalg.solve_triangular(IA, bc * kc, upper=False, unitriangular=True)
        U = torch.linalg.solve_triangular(IA, bc * vc, upper=False, unitriangular=True)
        U = U - W @ S
        Aq = (qc @ kc.transpose(-1, -2)).tril()
        o[:, :, c0:c0 + C] = qc @ S + Aq @ U
        S = S + kc.transpose(-1, -2) @ U
    return o.transpose(1, 2)


def recurrent(q, k, v, beta, scale):
    B, T, H, K = q.shape
    S = q.new_zeros(B, H, K, v.shape[-1])
    o = torch.empty_like(v)
    for t in range(T):
        kt, vt = k[:, t], v[:, t]
        if beta is not None:
            vt = beta[:, t, :, None] * (vt - torch.einsum("bhk,bhkv->bhv", kt, S))
        S = S + kt[..., :, None] * vt[..., None, :]
        o[:, t] = scale * torch.einsum("bhk,bhkv->bhv", q[:, t], S)
    return o


def best_time(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--T", type=int, default=4096)
    ap.add_argument("--H", type=int, default=16)
    ap.add_argument("--K", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=0,
                    help="chunk size, both sides; 0: the library's pick per op")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    fw.set_num_threads(args.threads)
    B, T, H, K = 1, args.T, args.H, args.K
    Cl = args.chunk or fw.chunk_size("linear_attn", K)
    Cd = args.chunk or fw.chunk_size("delta_rule", K)
    r = np.random.default_rng(0)
    q = r.uniform(-1, 1, (B, T, H, K)).astype(np.float32)
    k = r.uniform(-1, 1, (B, T, H, K)).astype(np.float32)
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    v = r.uniform(-1, 1, (B, T, H, K)).astype(np.float32)
    beta = r.uniform(0.1, 0.9, (B, T, H)).astype(np.float32)
    tq, tk, tv, tb = (torch.from_numpy(x) for x in (q, k, v, beta))
    scale = K ** -0.5
    Tr = min(T, 256)  # the recurrent PyTorch loop is slow: time a prefix
    print(f"PyTorch {torch.__version__}, fastweights {fw.version()} ({fw.backend()}), "
          f"{args.threads} thread(s), B=1 T={T} H=HV={H} K=V={K}; recurrent rows use T={Tr}\n")
    print("| op | form | PyTorch tokens/s | fastweights tokens/s | x |")
    print("|---|---|---|---|---|")
    with torch.no_grad():
        rows = [
            ("linear_attn", "chunked", T, lambda: chunk_linear_attn(tq, tk, tv, scale, Cl),
             lambda: fw.chunk_linear_attn(q, k, v, normalize=False, chunk_size=Cl)),
            ("delta_rule", "chunked", T, lambda: chunk_delta_rule(tq, tk, tv, tb, scale, Cd),
             lambda: fw.chunk_delta_rule(q, k, v, beta, chunk_size=Cd)),
            ("linear_attn", "recurrent", Tr, lambda: recurrent(tq[:, :Tr], tk[:, :Tr], tv[:, :Tr], None, scale),
             lambda: fw.fused_recurrent_linear_attn(q[:, :Tr], k[:, :Tr], v[:, :Tr])),
            ("delta_rule", "recurrent", Tr,
             lambda: recurrent(tq[:, :Tr], tk[:, :Tr], tv[:, :Tr], tb[:, :Tr], scale),
             lambda: fw.fused_recurrent_delta_rule(q[:, :Tr], k[:, :Tr], v[:, :Tr], beta[:, :Tr])),
        ]
        # Same results first: the peer computes what the library computes.
        o_t = chunk_delta_rule(tq, tk, tv, tb, scale, Cd).numpy()
        o_f, _ = fw.chunk_delta_rule(q, k, v, beta, chunk_size=Cd)
        err = np.abs(o_t - o_f).max() / np.abs(o_f).max()
        assert err < 1e-3, f"PyTorch peer disagrees with fastweights: {err}"
        for op, form, n, f_torch, f_fw in rows:
            tt, tf = best_time(f_torch, args.reps), best_time(f_fw, args.reps)
            print(f"| {op} | {form} | {n / tt:,.0f} | {n / tf:,.0f} | {tt / tf:.1f} |")


if __name__ == "__main__":
    main()
