"""Plain float64 numpy reference of the scans (docs/design.md, "The math"), token by token."""
import numpy as np


def _l2(x):
    return x / np.sqrt((x * x).sum(-1, keepdims=True) + 1e-6)


def scan(q, k, v, g=None, beta=None, scale=None, initial_state=None, cu_seqlens=None,
         normalize=False, l2=False, initial_norm=None, eps=1e-6):
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    B, T, H, K = q.shape
    HV, V = v.shape[2:]
    scale = K ** -0.5 if scale is None else scale
    seqs = ([(0, a, b) for a, b in zip(cu_seqlens[:-1], cu_seqlens[1:])] if cu_seqlens is not None
            else [(b, 0, T) for b in range(B)])
    o = np.zeros((B, T, HV, V))
    S_all = np.zeros((len(seqs), HV, K, V))
    z_all = np.zeros((len(seqs), HV, K))
    for n, (b, t0, t1) in enumerate(seqs):
        for hv in range(HV):
            h = hv // (HV // H)
            S = np.zeros((K, V)) if initial_state is None else np.array(initial_state[n, hv], np.float64)
            z = np.zeros(K) if initial_norm is None else np.array(initial_norm[n, hv], np.float64)
            for t in range(t0, t1):
                qt, kt = q[b, t, h], k[b, t, h]
                if l2:
                    qt, kt = _l2(qt), _l2(kt)
                if g is not None and np.ndim(g) == 4:  # a gate per key channel (GLA, KDA)
                    S = S * np.exp(np.asarray(g[b, t, hv], np.float64))[:, None]
                elif g is not None:
                    S = S * np.exp(float(g[b, t, hv]))
                w = v[b, t, hv]
                if beta is not None:
                    w = float(beta[b, t, hv]) * (w - kt @ S)
                S = S + np.outer(kt, w)
                if normalize:  # fla's normalize=True
                    z = z + kt
                    o[b, t, hv] = scale * (qt @ S) / (scale * (qt @ z) + eps)
                else:
                    o[b, t, hv] = scale * (qt @ S)
            S_all[n, hv], z_all[n, hv] = S, z
    return o, S_all, z_all
