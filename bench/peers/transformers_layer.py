#!/usr/bin/env python3
"""The drop-in, measured where users meet it: transformers' own Qwen3-Next
gated delta net layer (Qwen3NextGatedDeltaNet: projections, short
convolution, the scan, gated norm, output projection), and a small whole
Qwen3-Next model, each run with transformers' PyTorch fallback and then after
fastweights.torch.patch_transformers(), in turn, in one process, on the same
random weights and inputs. Outputs must agree before anything is timed.

    python3 bench/peers/transformers_layer.py [--threads 1] [--reps 3] [--json out.json]

Rows, fp32 and bf16 (the weights and activations; states stay fp32):
- layer, H = 16, HV = 32, K = V = 128, hidden 2048 (Qwen3-Next's): prefill
  B = 1 at T in {512, 4096}; one decode step (after a 16-token prefill
  filled the cache) at B in {1, 8};
- model: 4 layers (3 gated delta net, 1 full attention, a small MoE),
  the same layer shapes, vocabulary 1024: prefill B = 1, T = 512, and 16
  greedy tokens generated after it.
Needs torch and transformers at the pinned versions (scripts/install_deps.sh).
"""
import argparse
import os
import sys
import time

import torch
import transformers
from transformers.cache_utils import DynamicCache
from transformers.models.qwen3_next import modeling_qwen3_next as qwen3_next

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import fastweights as fw  # noqa: E402
import fastweights.torch as ft  # noqa: E402
from transformers_peer import print_versions, write_rows  # noqa: E402  (this script's folder)

LAYER = dict(hidden_size=2048, linear_num_key_heads=16, linear_num_value_heads=32,
             linear_key_head_dim=128, linear_value_head_dim=128)


def config(layers):
    return qwen3_next.Qwen3NextConfig(
        **LAYER, vocab_size=1024, intermediate_size=1024, num_hidden_layers=layers,
        num_attention_heads=16, num_key_value_heads=2, head_dim=128, num_experts=4,
        num_experts_per_tok=2, moe_intermediate_size=512, shared_expert_intermediate_size=512,
        layer_types=(["linear_attention"] * 3 + ["full_attention"])[:layers])


def paired(fn, reps):
    """Median seconds of fn() on the fallback and on fastweights, alternated
    call by call (the patch switched between them); one warm-up call each."""
    times = ([], [])
    for rep in range(reps + 1):
        for path in (0, 1):
            (ft.patch_transformers if path else ft.unpatch_transformers)()
            t0 = time.perf_counter()
            fn()
            if rep:
                times[path].append(time.perf_counter() - t0)
    ft.unpatch_transformers()
    return [sorted(t)[reps // 2] for t in times]


def agree(fn):
    """fn() on the fallback and on fastweights: their relative difference."""
    ft.unpatch_transformers()
    want = fn().float()
    ft.patch_transformers()
    got = fn().float()
    ft.unpatch_transformers()
    return float((got - want).abs().max() / want.abs().max())


def layer_rows(dtype, reps):
    torch.manual_seed(0)
    cfg = config(1)
    layer = qwen3_next.Qwen3NextGatedDeltaNet(cfg, layer_idx=0).to(dtype).eval()
    rows = []
    for form, B, T in (("prefill", 1, 512), ("prefill", 1, 4096), ("decode", 1, 1),
                       ("decode", 8, 1)):
        x = torch.randn(B, T, cfg.hidden_size, dtype=dtype)
        if form == "prefill":
            def step():
                return layer(x)
        else:
            cache = DynamicCache(config=cfg)
            layer(torch.randn(B, 16, cfg.hidden_size, dtype=dtype), cache_params=cache)
            start = [s.clone() for s in (cache.get_conv_state(0), cache.get_recurrent_state(0))]

            def step():  # the same decode step each time: the cache reset to its prefill
                cache.get_conv_state(0).copy_(start[0])
                cache.get_recurrent_state(0).copy_(start[1])
                return layer(x, cache_params=cache)
        with torch.no_grad():
            diff = agree(step)
            t_fallback, t_ours = paired(step, reps)
        rows.append(dict(kind="layer", form=form, dtype=str(dtype).split(".")[1], B=B, T=T,
                         fallback_s=t_fallback, fastweights_s=t_ours,
                         ratio=t_fallback / t_ours, rel_diff=diff))
    return rows


def model_rows(dtype, reps):
    torch.manual_seed(0)
    model = qwen3_next.Qwen3NextForCausalLM(config(4)).to(dtype).eval()
    ids = torch.randint(0, 1024, (1, 512))
    rows = []
    with torch.no_grad():
        def prefill():
            return model(ids).logits

        def generate():
            return model.generate(ids, max_new_tokens=16, do_sample=False, min_new_tokens=16)
        for form, fn in (("prefill", prefill), ("generate 16", generate)):
            if form == "prefill":
                diff = agree(prefill)
            else:  # the tokens, not logits: 0 if both paths generate the same
                diff = float(not torch.equal(generate(), (ft.patch_transformers(), generate())[1]))
                ft.unpatch_transformers()
            t_fallback, t_ours = paired(fn, reps)
            rows.append(dict(kind="model", form=form, dtype=str(dtype).split(".")[1], B=1,
                             T=512, fallback_s=t_fallback, fastweights_s=t_ours,
                             ratio=t_fallback / t_ours, rel_diff=diff))
    ft.unpatch_transformers()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    fw.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    print_versions(args.threads)
    print("| what | form | dtype | B | T | fallback ms | fastweights ms | x | rel. diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        for r in (r for table in (layer_rows, model_rows) for r in table(dtype, args.reps)):
            rows.append(r)
            print(f"| {r['kind']} | {r['form']} | {r['dtype']} | {r['B']} | {r['T']} | "
                  f"{1e3 * r['fallback_s']:.2f} | {1e3 * r['fastweights_s']:.2f} | "
                  f"{r['ratio']:.1f} | {r['rel_diff']:.1e} |", flush=True)
    if args.json:
        write_rows(args.json, args.threads, rows)


if __name__ == "__main__":
    main()
