#!/usr/bin/env python3
"""Turns Google Benchmark JSON files from bench/fastweights_bench (one per
machine, or several runs) into a Markdown report and a PNG plot.

    python3 scripts/bench_report.py build/results/bench.json [more.json ...] \
        --markdown build/results/report.md --plot build/results/report.png

Each file's context (CPU model, backend, FMA peak, copy bandwidth) heads its
section; medians are used where the run has repetitions.
"""
import argparse
import json
import re
import sys

NAME = re.compile(r"^(?P<bench>[a-z_]+(?:/[a-z_][a-z0-9_]*)?)/(?P<B>\d+)/(?P<T>\d+)/(?P<H>\d+)/(?P<HV>\d+)/"
                  r"(?P<K>\d+)/(?P<threads>\d+)")


def load(path):
    with open(path) as f:
        data = json.load(f)
    rows = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        m = NAME.match(b["name"])
        if not m:
            continue
        key = b["name"].split("/process_time")[0]
        if key in rows and b.get("run_type") != "aggregate":
            continue  # keep the median when both are present
        rows[key] = dict(m.groupdict(), **{k: b.get(k) for k in (
            "real_time", "time_unit", "tokens/s", "GFLOP/s", "efficiency", "state_GB/s",
            "copy_bw_frac", "label", "auto_ms", "chunked_ms", "recurrent_ms", "auto_over_best",
            "fwd_ms", "bwd_ms", "bwd_over_fwd", "one_thread_ms", "threads_ms", "threads_over_one")})
    return data["context"], rows


def fmt(x, digits=3):
    if x is None:
        return ""
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.{digits}g}"


def loops(ctx):
    """The two FMA loops behind the peak, where the run recorded them."""
    if "fma_intrinsic_gflops_1t" not in ctx:
        return ""
    g = lambda k: f"{float(ctx[k]):.1f}"  # noqa: E731
    return (f" (the better of two loops: through xsimd {g('fma_xsimd_gflops_1t')} / "
            f"{g('fma_xsimd_gflops_2t')}, through intrinsics {g('fma_intrinsic_gflops_1t')} / "
            f"{g('fma_intrinsic_gflops_2t')})")


def scaling_table(rows):
    """FW_BENCH_THREADS runs: tokens/s per thread count and the speed-up
    over one thread, per benchmark and shape."""
    groups = {}
    for r in rows.values():
        if "scaling" in r["bench"]:
            groups.setdefault((r["bench"], r["B"], r["T"], r["H"], r["HV"], r["K"]), []).append(r)
    if not groups:
        return []
    counts = sorted({int(r["threads"]) for g in groups.values() for r in g})
    out = ["", "Thread scaling (tokens/s, and the speed-up over one thread):", "",
           "| benchmark | B | T | H=HV | " + " | ".join(f"{t} thr" for t in counts) + " |",
           "|---" * (4 + len(counts)) + "|"]
    for (bench, B, T, H, HV, K), g in groups.items():
        by = {int(r["threads"]): r["tokens/s"] for r in g}
        base = by.get(1)
        cells = [f"{fmt(by[t])} ({by[t] / base:.1f}x)" if t in by and base else fmt(by.get(t))
                 for t in counts]
        out.append(f"| {bench} | {B} | {T} | {H} | " + " | ".join(cells) + " |")
    return out


def half_table(rows):
    """bf16 and fp16 q, k, v and o (g, beta and states fp32) beside fp32:
    tokens/s and the ratio to fp32 in the same run."""
    out = []
    for form, fp32, half in (("chunked", "chunk_{op}/1/4096/16/16/128/1", "chunk_{op}/{d}/1/4096/16/16/128/1"),
                             ("decode", "fused_recurrent_{op}/decode/64/1/16/32/128/1",
                              "fused_recurrent_{op}/decode_{d}/64/1/16/32/128/1")):
        for op in sorted({r["bench"].split("/")[0].removeprefix("chunk_").removeprefix("fused_recurrent_")
                          for r in rows.values() if r["bench"].endswith(("/bf16", "/decode_bf16"))}):
            base = rows.get(fp32.format(op=op))
            halves = [rows.get(half.format(op=op, d=d)) for d in ("bf16", "f16")]
            if not base or not any(halves):
                continue
            if not out:
                out = ["", "Half-precision q, k, v and o (g, beta and states fp32), one thread, "
                       "against fp32 in the same run (tokens/s and the ratio to fp32):", "",
                       "| op | form | fp32 | bf16 | x | fp16 | x |", "|---|---|---|---|---|---|---|"]
            cells = "".join(f"{fmt(h['tokens/s'])} | {h['tokens/s'] / base['tokens/s']:.2f} | " if h else " |  | "
                            for h in halves)
            out.append(f"| {op} | {form} | {fmt(base['tokens/s'])} | {cells.rstrip()}")
    return out


def threads_table(rows):
    """One thread against the default count, idle and beside a busy core."""
    shared = [(k, r) for k, r in rows.items() if k.startswith("threads_") and r["threads_over_one"]]
    if not shared:
        return []
    out = ["", "Threads: one thread against the default count, call by call in turn on the same "
           "inputs (median ms), on an idle machine and beside a competitor process that the "
           "benchmark starts for the row, busy and pinned on one core (targets: at most 1.1 "
           "contended; the performance issues' scaling idle):", "",
           "| op | machine | form | B/T/H/HV/K | threads | 1 thread | default | default / 1 |",
           "|---|---|---|---|---|---|---|---|"]
    for key, r in shared:
        op, kind = key[len("threads_"):].split("/")[:2]
        machine, form = kind.split("_")
        out.append(f"| {op} | {machine} | {form} | {r['B']}/{r['T']}/{r['H']}/{r['HV']}/{r['K']} | "
                   f"{r['threads']} | {r['one_thread_ms']:.4g} | {r['threads_ms']:.4g} | "
                   f"{r['threads_over_one']:.2f} |")
    return out


def section(ctx, rows):
    out = [f"### {ctx.get('cpu_model', '?')} — backend {ctx.get('fastweights_backend', '?')}", "",
           f"Topology: {ctx.get('topology', '?')}. FMA peak (measured): "
           f"{float(ctx.get('fma_peak_gflops_1t', 0)):.1f} GFLOP/s on 1 thread, "
           f"{float(ctx.get('fma_peak_gflops_2t', 0)):.1f} on 2{loops(ctx)}. Copy bandwidth: "
           f"{float(ctx.get('copy_bw_gbs_1t', 0)):.1f} / {float(ctx.get('copy_bw_gbs_2t', 0)):.1f} GB/s.",
           ""]
    out += ["| benchmark | B | T | H | HV | K=V | threads | tokens/s | GFLOP/s | efficiency | state GB/s | of copy bw |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in rows.items():
        if "crossover" in key or key.startswith(("train_", "threads_")):
            continue
        out.append(f"| {r['bench']} ({r['label']}) | {r['B']} | {r['T']} | {r['H']} | {r['HV']} | "
                   f"{r['K']} | {r['threads']} | {fmt(r['tokens/s'])} | {fmt(r['GFLOP/s'])} | "
                   f"{fmt(r['efficiency'], 2)} | {fmt(r['state_GB/s'])} | {fmt(r['copy_bw_frac'], 2)} |")
    out += ["", "Against the peers, same shape and threads (tokens/s and our ratio to each): OpenBLAS-composed "
            "chunked forms, this library's portable scalar backend, ggml's token-recurrent "
            "ops (llama.cpp's CPU ops, outputs checked against ours first: gated_delta_net "
            "for the gated delta rule, the same op with a per-key gate for KDA, "
            "gated_linear_attn for GLA):", "",
            "| op | shape B/T/H/HV/K | threads | fastweights | OpenBLAS | x | scalar | x | ggml | x |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for key, r in rows.items():
        m = re.match(r"chunk_([a-z_]+?)/((?:models/)?\d.*)", key)
        if not m:
            continue
        op, shape = m.groups()
        shape = shape.removeprefix("models/")
        ggml = GGML_PEER.get(op)
        peers = [rows.get(f"openblas_chunk_{op}/{shape}"), rows.get(f"scalar_chunk_{op}/{shape}"),
                 rows.get(f"{ggml}/{shape}") or rows.get(f"{ggml}/models/{shape}") if ggml else None]
        if not any(peers):
            continue
        cells = "".join(f"{fmt(p['tokens/s'])} | {r['tokens/s'] / p['tokens/s']:.2f} | " if p else " |  | "
                        for p in peers)
        out.append(f"| {op} | {shape.rsplit('/', 1)[0]} | {r['threads']} | {fmt(r['tokens/s'])} | {cells.rstrip()}")
    out += half_table(rows)
    out += scaling_table(rows)
    train = [(k, r) for k, r in rows.items() if k.startswith("train_") and r["bwd_over_fwd"]]
    if train:
        out += ["", "Training: the chunked forward and its backward (fw_scan_backward), timed call by "
                "call in turn on the same inputs (median ms; the target is backward <= 2.5x forward; "
                "backward_saved: the forward keeps its chunk boundaries' states and the backward "
                "reads them instead of recomputing them)", "",
                "| op | states | B/T/H/HV/K | threads | forward | backward | backward / forward |",
                "|---|---|---|---|---|---|---|"]
        for key, r in train:
            op, kind = key[len('train_'):].split('/')[:2]
            states = "the forward's" if kind == "backward_saved" else "recomputed"
            out.append(f"| {op} | {states} | {r['B']}/{r['T']}/{r['H']}/"
                       f"{r['HV']}/{r['K']} | {r['threads']} | {r['fwd_ms']:.4g} | "
                       f"{r['bwd_ms']:.4g} | {r['bwd_over_fwd']:.2f} |")
    out += threads_table(rows)
    cross = [(k, r) for k, r in rows.items() if k.startswith("auto_") and r["auto_over_best"]]
    if cross:
        out += ["", "AUTO against the better of chunked and recurrent, timed call by call in turn on the same "
                "inputs (median ms; ratio 1.00 = as fast):", "",
                "| op | T | auto | chunked | recurrent | auto / best |", "|---|---|---|---|---|---|"]
        for key, r in cross:
            out.append(f"| {key[len('auto_'):].split('/')[0]} | {r['T']} | {r['auto_ms']:.3g} | "
                       f"{r['chunked_ms']:.3g} | {r['recurrent_ms']:.3g} | {r['auto_over_best']:.2f} |")
    return "\n".join(out) + "\n"


# ggml's op beside each of ours (bench/peers/ggml_peer.hpp).
GGML_PEER = {"gated_delta_rule": "ggml_gated_delta_net", "kda": "ggml_gated_delta_net_kda",
             "gla": "ggml_gated_linear_attn"}

# The rows every machine's summary shows: the issue targets' shapes.
SUMMARY = [("chunk_linear_attn/1/4096/16/16/128/1", "linear attention, chunked"),
           ("chunk_simple_gla/1/4096/16/16/128/1", "simple GLA, chunked"),
           ("chunk_delta_rule/1/4096/16/16/128/1", "delta rule, chunked"),
           ("chunk_gated_delta_rule/1/4096/16/16/128/1", "gated delta rule, chunked"),
           ("chunk_gla/1/4096/16/16/128/1", "GLA, chunked"),
           ("chunk_kda/1/4096/16/16/128/1", "KDA, chunked"),
           ("ggml_gated_delta_net/1/4096/16/16/128/1", "ggml gated_delta_net"),
           ("ggml_gated_delta_net_kda/1/4096/16/16/128/1", "ggml gated_delta_net, per-key gate"),
           ("ggml_gated_linear_attn/1/4096/16/16/128/1", "ggml gated_linear_attn"),
           ("chunk_gated_delta_rule/bf16/1/4096/16/16/128/1", "gated delta rule, chunked, bf16 q/k/v/o"),
           ("fused_recurrent_delta_rule/decode/64/1/16/32/128/1", "delta rule decode, B=64"),
           ("fused_recurrent_gated_delta_rule/decode/64/1/16/32/128/1", "gated delta rule decode, B=64"),
           ("fused_recurrent_gated_delta_rule/decode_bf16/64/1/16/32/128/1",
            "gated delta rule decode, B=64, bf16 q/k/v/o")]


def summary(sections):
    """One table over every file: tokens/s (efficiency, or fraction of copy
    bandwidth for decode) per machine and backend, one thread."""
    heads = [f"{c.get('cpu_model', '?')} ({c.get('fastweights_backend', '?')})" for c, _ in sections]
    out = ["### All machines, one thread", "",
           "Tokens/s; in brackets the efficiency (model FLOP/s over that machine's measured FMA peak) or, "
           "for decode, the state traffic over its copy bandwidth.", "",
           "| benchmark | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for key, label in SUMMARY:
        cells = []
        for _, rows in sections:
            r = rows.get(key)
            frac = (r or {}).get("copy_bw_frac") if "decode" in key else (r or {}).get("efficiency")
            cells.append(f"{fmt(r['tokens/s'])} ({fmt(frac, 2)})" if r else "")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def transformers_table(path):
    """bench/peers/transformers_peer.py --json: the PyTorch fallback's rows."""
    with open(path) as f:
        d = json.load(f)
    out = [f"### Hugging Face transformers' PyTorch fallback ({d['transformers']}, torch {d['torch']}), "
           f"{d['threads']} thread(s), backend {d['backend']}", "",
           "Qwen3-Next's torch_chunk_gated_delta_rule (chunk 64) and torch_recurrent_gated_delta_rule "
           "against chunk_gated_delta_rule / fused_recurrent_gated_delta_rule on the same inputs "
           "(called in turn, medians):", "",
           "| form | B | T | H | HV | K=V | transformers tokens/s | fastweights tokens/s | x |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        out.append(f"| {r['form']} | {r['B']} | {r['T']} | {r['H']} | {r['HV']} | {r['K']} | "
                   f"{fmt(r['transformers_tokens_s'])} | {fmt(r['fastweights_tokens_s'])} | {r['ratio']:.1f} |")
    return "\n".join(out) + "\n"


def transformers_layer_table(path):
    """bench/peers/transformers_layer.py --json: transformers' own Qwen3-Next
    layer and a small model, on the fallback and on fastweights."""
    with open(path) as f:
        d = json.load(f)
    out = [f"### The drop-in: transformers {d['transformers']} (torch {d['torch']}) with "
           f"fastweights.torch.patch_transformers(), {d['threads']} thread(s), backend "
           f"{d['backend']}", "",
           "Qwen3NextGatedDeltaNet (H = 16, HV = 32, K = V = 128, hidden 2048) and a 4-layer "
           "Qwen3-Next (3 such layers, 1 full attention, small MoE), the PyTorch fallback and "
           "fastweights called in turn (medians); rel. diff: the outputs' largest difference "
           "over their largest value (for generate, 0 if the 16 tokens are the same):", "",
           "| what | form | dtype | B | T | fallback ms | fastweights ms | x | rel. diff |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        out.append(f"| {r['kind']} | {r['form']} | {r['dtype']} | {r['B']} | {r['T']} | "
                   f"{1e3 * r['fallback_s']:.1f} | {1e3 * r['fastweights_s']:.1f} | "
                   f"{r['ratio']:.2f} | {r['rel_diff']:.1e} |")
    return "\n".join(out) + "\n"


def plot(sections, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    width = 0.8 / max(1, len(sections))
    pick = re.compile(r"(chunk_(linear_attn|delta_rule|gated_delta_rule)|openblas_chunk_(linear_attn|delta_rule)"
                      r"|scalar_chunk_(linear_attn|delta_rule)|ggml_gated_delta_net)/1/4096/16/16/128/1$")
    labels = []  # every machine's bars at the same places, missing ones left out
    for _, rows in sections:
        labels += [k.split("/")[0] for k in rows if pick.match(k) and k.split("/")[0] not in labels]
    for s, (ctx, rows) in enumerate(sections):
        tag = f"{ctx.get('cpu_model', '?')} ({ctx.get('fastweights_backend', '?')})"
        got = {k.split("/")[0]: r for k, r in rows.items() if pick.match(k)}
        x = [i for i, name in enumerate(labels) if name in got]
        axes[0].bar([i + s * width for i in x], [got[labels[i]]["tokens/s"] / 1e3 for i in x], width,
                    label=tag)
        axes[1].bar([i + s * width for i in x], [got[labels[i]]["efficiency"] for i in x], width,
                    label=tag)
    for ax in axes:
        ax.set_xticks([i + (len(sections) - 1) * width / 2 for i in range(len(labels))])
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    axes[0].set_ylabel("thousand tokens/s")
    axes[1].set_ylabel("model FLOP/s / measured FMA peak")
    axes[0].set_title("B=1, T=4096, H=HV=16, K=V=128, 1 thread")
    axes[1].set_title("efficiency, same runs")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("json", nargs="+")
    ap.add_argument("--markdown", help="write the report here (default: stdout)")
    ap.add_argument("--plot", help="write a PNG plot here")
    ap.add_argument("--transformers", action="append",
                    help="bench/peers/transformers_peer.py --json output to add (repeatable)")
    ap.add_argument("--transformers-layer", action="append",
                    help="bench/peers/transformers_layer.py --json output to add (repeatable)")
    args = ap.parse_args()
    sections = [load(p) for p in args.json]
    text = summary(sections) + "\n" if len(sections) > 1 else ""
    text += "".join(section(c, r) + "\n" for c, r in sections)
    for path in args.transformers or []:
        text += transformers_table(path) + "\n"
    for path in args.transformers_layer or []:
        text += transformers_layer_table(path) + "\n"
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    if args.plot:
        plot(sections, args.plot)


if __name__ == "__main__":
    main()
