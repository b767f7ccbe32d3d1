#!/usr/bin/env python3
"""The synthetic retrieval experiments of Schlag, Irie & Schmidhuber (2021),
"Linear Transformers Are Secretly Fast Weight Programmers", Section 6.1,
scaled to minutes on two CPU cores and trained with fastweights.torch.

The model is one fast weight memory: keys and values are learned
embeddings, the keys go through a feature map phi (ELU+1 keeps the key
dimension d; DPFP-nu gives D = 2 nu d features; FAVOR+ m = 4d random
features) and the paper's sum normalisation, and the memory is written with

  the sum rule (linear attention)   W += v phi(k)^T
  the delta rule                    W += beta (v - W phi(k)) phi(k)^T

(beta = sigmoid of a learned number per key), read with W phi(q), and mapped
to value logits (cross-entropy). The scans are fastweights.torch's
chunk_linear_attn and chunk_delta_rule, the feature maps
fastweights.torch.feature_map, all trained through their backward kernels.
Every sequence draws its own values at random, so none can be learned: they
have to be stored.

Setting 1, capacity: S pairs with S distinct keys are written, then one of
the keys is queried. A memory of D features holds at most D such pairs
without interference, whatever the rule, so the loss grows with S, and the
later the larger D (DPFP-3 over DPFP-2 over DPFP-1 over ELU+1, whose
features, all positive, cannot even be orthogonal). The delta rule does no
better here, and cannot: W is a D-column matrix, so its reads of S > D keys
span at most D directions, and S random values cannot all be recovered.

Setting 2, updates: S writes go to only U keys (U below every phi's D), so
keys recur with new values, and the query asks for a key's latest value.
The sum rule keeps adding each key's old values, so its loss rises with S;
the delta rule replaces what the memory returned for the key, so its loss
stays low. This is the paper's case for the delta rule. README.md gives
the measured losses and the plot.

    python3 examples/capacity.py [--quick] [--out capacity.png] [--json capacity.json]
"""
import argparse
import concurrent.futures
import json
import math
import multiprocessing
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import fastweights  # noqa: E402
import fastweights.torch as ft  # noqa: E402


class FastWeightMemory(torch.nn.Module):
    def __init__(self, keys, values, d_key, d_value, phi, rule, m=None):
        super().__init__()
        self.key = torch.nn.Embedding(keys, d_key)
        self.value = torch.nn.Embedding(values, d_value)
        self.beta = torch.nn.Embedding(keys, 1)
        self.readout = torch.nn.Linear(d_value, values)
        self.phi, self.rule, self.m = phi, rule, m

    def features(self, symbols):
        kind, nu = self.phi
        f = ft.feature_map(self.key(symbols), kind, nu=nu, m=self.m, seed=1)
        return f / f.sum(-1, keepdim=True)  # the paper's sum normalisation

    def forward(self, keys, values, query):
        """keys, values [B, S]; query [B]: value logits [B, values]."""
        B, S = keys.shape
        k = self.features(keys)                             # [B, S, D]
        q = self.features(query)[:, None]                   # [B, 1, D]
        v = self.value(values)                              # [B, S, d_value]
        # S writes, then the query's token (a zero key and value: no write)
        k = torch.cat([k, torch.zeros_like(q)], 1)[:, :, None]
        v = torch.cat([v, v.new_zeros(B, 1, v.shape[-1])], 1)[:, :, None]
        q = torch.cat([k[:, :S, 0], q], 1)[:, :, None]
        if self.rule == "sum":
            o, _ = ft.chunk_linear_attn(q, k, v, scale=1.0, normalize=False)
        else:
            beta = torch.sigmoid(self.beta(keys))[..., 0]
            beta = torch.cat([beta, beta.new_zeros(B, 1)], 1)[:, :, None]
            o, _ = ft.chunk_delta_rule(q, k, v, beta, scale=1.0)
        return self.readout(o[:, S, 0])


def batch(gen, size, setting, S, a):
    """size sequences of S writes (keys, values [size, S]), a query key per
    sequence and the value it must return (setting 1 or 2, module doc)."""
    order = torch.rand(size, a.keys, generator=gen).argsort(-1)
    if setting == 1:
        k = order[:, :S]
    else:  # S writes to U of the keys, each write one of them at random
        k = order.gather(1, torch.randint(a.unique, (size, S), generator=gen))
    v = torch.randint(a.values, (size, S), generator=gen)
    rows = torch.arange(size)
    query = k[rows, torch.randint(S, (size,), generator=gen)]
    # the latest write of the query's key
    latest = torch.where(k == query[:, None], torch.arange(S), -1).amax(1)
    return k, v, query, v[rows, latest]


def favor_features(phi, d_key):
    """FAVOR+'s random features: 4 d_key (None for the other maps)."""
    return 4 * d_key if phi[0] == "favor_plus" else None


def train(setting, S, phi, rule, a):
    """The final loss of one model, on 1024 fresh sequences."""
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    m = favor_features(phi, a.d_key)
    model = FastWeightMemory(a.keys, a.values, a.d_key, a.d_value, phi, rule, m)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    for _ in range(a.steps):
        k, v, q, target = batch(gen, a.batch, setting, S, a)
        loss = torch.nn.functional.cross_entropy(model(k, v, q), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        k, v, q, target = batch(gen, 1024, setting, S, a)
        return torch.nn.functional.cross_entropy(model(k, v, q), target).item()


def run_one(job):
    """One (setting, rule, phi) line: its losses over S, on one thread (the
    pool runs one line per core)."""
    setting, rule, phi, sizes, a = job
    torch.set_num_threads(1)
    fastweights.set_num_threads(1)
    return [train(setting, S, phi, rule, a) for S in sizes]


def label(phi):
    kind, nu = phi
    return {"elu_plus_one": "ELU+1", "dpfp": f"DPFP-{nu}", "favor_plus": "FAVOR+"}[kind]


def plot(results, a, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    titles = {1: "setting 1: S distinct keys (capacity)",
              2: f"setting 2: S writes to {a.unique} keys (updates)"}
    colors = {}
    for r in results:
        color = colors.setdefault(r["phi"], f"C{len(colors)}")
        axes[r["setting"] - 1].plot(
            r["S"], r["loss"], marker="o", color=color,
            linestyle="-" if r["rule"] == "sum" else "--",
            label=f"{r['rule']} rule, {r['phi']} (D = {r['features']})")
    for setting, ax in zip((1, 2), axes):
        ax.set_title(titles[setting])
        ax.set_xlabel("S")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("final cross-entropy (chance: ln %d = %.2f)" % (a.values,
                                                                       math.log(a.values)))
    axes[1].legend(fontsize=7)
    fig.suptitle(f"Schlag et al. 2021, Sec. 6.1, scaled: d_key = {a.d_key}, {a.values} values, "
                 f"{a.steps} steps; fastweights {fastweights.version()}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the smallest setting (a test runs it)")
    ap.add_argument("--out", default="capacity.png", help="the plot")
    ap.add_argument("--json", help="write the losses here")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count(), help="processes, one thread each")
    a = ap.parse_args()
    if a.quick:
        a.d_key, a.d_value, a.keys, a.values, a.unique = 4, 8, 32, 8, 3
        a.steps, a.batch, a.lr = 200, 32, 1e-2
        sizes = [2, 8, 16]
        maps = [("elu_plus_one", 1), ("dpfp", 2)]
    else:
        a.d_key, a.d_value, a.keys, a.values, a.unique = 8, 16, 128, 16, 6
        a.steps, a.batch, a.lr = 600, 32, 5e-3
        sizes = [4, 8, 16, 32, 48, 64, 96]
        maps = [("elu_plus_one", 1), ("dpfp", 1), ("dpfp", 2), ("dpfp", 3), ("favor_plus", 1)]
    lines = [(setting, rule, phi) for setting in (1, 2) for rule in ("sum", "delta")
             for phi in maps]
    start = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(
            a.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        losses = pool.map(run_one, [(*line, sizes, a) for line in lines])
        results = []
        for (setting, rule, phi), loss in zip(lines, losses):
            features = fastweights.feature_dim(a.d_key, phi[0], phi[1], favor_features(phi, a.d_key))
            results.append(dict(setting=setting, rule=rule, phi=label(phi), features=features,
                                S=sizes, loss=loss))
            print(f"setting {setting}, {rule:5s} rule, {label(phi):7s} "
                  f"D = {features:3d}: "
                  + " ".join(f"S={S}:{x:.3f}" for S, x in zip(sizes, loss)), flush=True)
    seconds = time.perf_counter() - start
    print(f"{seconds:.0f} s on {a.jobs} processes")
    plot(results, a, a.out)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(seconds=seconds, d_key=a.d_key, values=a.values, unique=a.unique,
                           steps=a.steps, results=results), f, indent=1)


if __name__ == "__main__":
    main()
