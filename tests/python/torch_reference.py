"""The scans of reference.py written with torch ops in float64, token by
token, so that torch's autograd gives the float64 reverse-mode gradients the
torch binding is checked against (test_torch.py checks this file's forward
against reference.py first)."""
import torch


def _l2(x):
    return x / torch.sqrt((x * x).sum(-1, keepdim=True) + 1e-6)


def scan(q, k, v, g=None, beta=None, scale=None, initial_state=None, cu_seqlens=None,
         normalize=False, l2=False, eps=1e-6):
    """(o [B, T, HV, V], final states [N, HV, K, V]) in float64; q, k, v, g,
    beta, initial_state may require grad."""
    q, k, v = q.double(), k.double(), v.double()
    g = None if g is None else g.double()
    beta = None if beta is None else beta.double()
    B, T, H, K = q.shape
    HV, V = v.shape[2:]
    scale = K ** -0.5 if scale is None else scale
    seqs = ([(0, int(a), int(b)) for a, b in zip(cu_seqlens[:-1], cu_seqlens[1:])]
            if cu_seqlens is not None else [(b, 0, T) for b in range(B)])
    rows = {}
    finals = []
    for n, (b, t0, t1) in enumerate(seqs):
        heads = []
        for hv in range(HV):
            h = hv // (HV // H)
            S = (q.new_zeros(K, V) if initial_state is None else initial_state[n, hv].double())
            z = q.new_zeros(K)
            for t in range(t0, t1):
                qt, kt = q[b, t, h], k[b, t, h]
                if l2:
                    qt, kt = _l2(qt), _l2(kt)
                if g is not None and g.dim() == 4:
                    S = S * g[b, t, hv].exp()[:, None]
                elif g is not None:
                    S = S * g[b, t, hv].exp()
                w = v[b, t, hv]
                if beta is not None:
                    w = beta[b, t, hv] * (w - kt @ S)
                S = S + torch.outer(kt, w)
                o = scale * (qt @ S)
                if normalize:
                    z = z + kt
                    o = o / (scale * (qt @ z) + eps)
                rows[(b, t, hv)] = o
            heads.append(S)
        finals.append(torch.stack(heads))
    zero = q.new_zeros(V)
    out = torch.stack([torch.stack([torch.stack([rows.get((b, t, hv), zero) for hv in range(HV)])
                                    for t in range(T)]) for b in range(B)])
    return out, torch.stack(finals)
