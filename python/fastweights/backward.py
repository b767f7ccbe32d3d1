"""Gradients of the chunked scans: chunk_<op>_backward for each chunk_<op>.

Each takes the forward's inputs (numpy arrays, as ops.py's functions do),
do, the gradient of o [B, T, HV, V], and dht, that of the final state
(None: zeros), and returns fla's 6-tuple (dq, dk, dv, dg, dbeta, dh0): each
gradient in its input's dtype and shape, None where the op has no such
input (dh0 without initial_state). dq and dk sum over the value heads that
share a q/k head. dg is the gradient of the log-decay g (of g_gamma [HV]
for chunk_simple_gla's constant gate); dbeta that of beta as given.
Keyword-only: chunk_size (0: the library's, as the forward's),
intermediate_states (what the forward returned with
output_intermediate_states=True and the same chunk_size: the states at its
chunk boundaries, read instead of recomputed; the same gradients),
state_v_first (initial_state, dht and dh0 [N, HV, V, K]), eps (linear
attention's normalize).
"""
import ctypes

import numpy as np

from ._lib import ScanArgs, check, lib
from .ops import (FLAG_NORMALIZE, FLAG_STATE_V_FIRST, MODE_CHUNKED, _as_operand, _beta,
                  _delta_flags, _dense_state, _gla_gate, _inputs, _op, _tensor)


def _backward(op, where, q, k, v, do, g=None, beta=None, dht=None, scale=None,
              initial_state=None, cu_seqlens=None, flags=0, chunk_size=0, eps=1e-10,
              state_v_first=False, g_channel=False, intermediate_states=None):
    q, k, v, g, beta, cu = _inputs(q, k, v, g, beta, cu_seqlens, g_channel)
    B, T, H, K = q.shape
    HV, V = v.shape[2], v.shape[3]
    N = B if cu is None else cu.size - 1
    do = _as_operand(do, "do", 4)
    if do.shape != v.shape:
        raise ValueError(f"do must have v's shape {v.shape}, got {do.shape}")
    if state_v_first:
        flags |= FLAG_STATE_V_FIRST
    tail = (HV, V, K) if state_v_first else (HV, K, V)
    pair = bool(flags & FLAG_NORMALIZE) and isinstance(initial_state, tuple)
    S0, z0 = initial_state if pair else (initial_state, None)
    S0 = _dense_state(S0, (N,) + tail, "initial_state")
    z0 = _dense_state(z0, (N, HV, K), "initial normaliser state")
    dht = _dense_state(dht, (N,) + tail, "dht")
    inter = None
    if intermediate_states is not None:
        inter = np.ascontiguousarray(intermediate_states, dtype=np.float32)
        if inter.ndim != 5 or inter.shape[0] != N or inter.shape[2:] != tail:
            raise ValueError(f"intermediate_states must have shape (N, S) + {tail}, "
                             f"got {inter.shape}")

    def like(x):
        return None if x is None else np.empty(x.shape, dtype=x.dtype)

    dq, dk, dv, dg, dbeta = like(q), like(k), like(v), like(g), like(beta)
    dh0 = None if S0 is None else np.empty(S0.shape, dtype=np.float32)

    a = ScanArgs()
    a.struct_size = ctypes.sizeof(ScanArgs)
    a.flags = flags
    a.mode = MODE_CHUNKED
    a.batch, a.seq_len, a.num_heads, a.num_value_heads = B, T, H, HV
    a.head_dim_k, a.head_dim_v, a.chunk_size = K, V, chunk_size
    a.scale = 0.0 if scale is None else float(scale)
    a.eps = eps
    for t, x in ((a.q, q), (a.k, k), (a.v, v), (a.grad_o, do), (a.initial_state, S0),
                 (a.initial_norm, z0), (a.grad_final_state, dht), (a.intermediate_states, inter),
                 (a.grad_q, dq),
                 (a.grad_k, dk), (a.grad_v, dv), (a.grad_initial_state, dh0)):
        _tensor(t, x)
    for t, x in ((a.g, g), (a.grad_g, dg)):
        _tensor(t, x, rows=g_channel)
    for t, x in ((a.beta, beta), (a.grad_beta, dbeta)):
        _tensor(t, x, rows=False)
    if cu is not None:
        a.cu_seqlens, a.num_seqs = cu.ctypes.data, N
    check(lib.fw_scan_backward(op, ctypes.byref(a)), where)
    return dq, dk, dv, dg, dbeta, dh0


def chunk_linear_attn_backward(q, k, v, do, dht=None, scale=None, initial_state=None,
                               cu_seqlens=None, use_qk_l2norm_in_kernel=False, *, chunk_size=0,
                               intermediate_states=None, normalize=True, eps=1e-10,
                               state_v_first=False):
    """Gradients of chunk_linear_attn (normalize=True, its default: initial_state
    may be a pair (S, z); z's gradient is not returned, dht is S's)."""
    flags = (FLAG_NORMALIZE if normalize else 0) | _delta_flags(use_qk_l2norm_in_kernel)
    return _backward(_op("linear_attn"), "chunk_linear_attn_backward", q, k, v, do, dht=dht,
                     scale=scale, initial_state=initial_state, cu_seqlens=cu_seqlens,
                     flags=flags, chunk_size=chunk_size, eps=eps, state_v_first=state_v_first,
                     intermediate_states=intermediate_states)


def chunk_simple_gla_backward(q, k, v, g, do, dht=None, scale=None, initial_state=None,
                              cu_seqlens=None, use_qk_l2norm_in_kernel=False, *, g_gamma=None,
                              chunk_size=0, intermediate_states=None, state_v_first=False):
    """Gradients of chunk_simple_gla; dg is that of g [B, T, HV], or of g_gamma
    [HV] (g None; summed over batch and time), or None without a gate."""
    where = "chunk_simple_gla_backward"
    gate = _gla_gate(g, g_gamma, q, v, where)
    op = "simple_gla" if gate is not None else "linear_attn"
    grads = _backward(_op(op), where, q, k, v, do, g=gate, dht=dht, scale=scale,
                      initial_state=initial_state, cu_seqlens=cu_seqlens,
                      flags=_delta_flags(use_qk_l2norm_in_kernel), chunk_size=chunk_size,
                      state_v_first=state_v_first, intermediate_states=intermediate_states)
    if g_gamma is None:
        return grads
    dq, dk, dv, dg, dbeta, dh0 = grads
    return dq, dk, dv, dg.astype(np.float32).sum(axis=(0, 1)), dbeta, dh0


def chunk_delta_rule_backward(q, k, v, beta, do, dht=None, scale=None, initial_state=None,
                              cu_seqlens=None, use_qk_l2norm_in_kernel=False, *, chunk_size=0,
                              intermediate_states=None, state_v_first=False):
    """Gradients of chunk_delta_rule (beta=None: ones, whose gradient is
    still returned)."""
    return _backward(_op("delta_rule"), "chunk_delta_rule_backward", q, k, v, do,
                     beta=_beta(beta, v), dht=dht, scale=scale, initial_state=initial_state,
                     cu_seqlens=cu_seqlens, flags=_delta_flags(use_qk_l2norm_in_kernel),
                     chunk_size=chunk_size, state_v_first=state_v_first,
                     intermediate_states=intermediate_states)


def chunk_gated_delta_rule_backward(q, k, v, g, beta, do, dht=None, scale=None,
                                    initial_state=None, cu_seqlens=None,
                                    use_qk_l2norm_in_kernel=False, *, chunk_size=0,
                                    intermediate_states=None, state_v_first=False):
    """Gradients of chunk_gated_delta_rule (g [B, T, HV])."""
    return _backward(_op("gated_delta_rule"), "chunk_gated_delta_rule_backward", q, k, v, do,
                     g=g, beta=_beta(beta, v), dht=dht, scale=scale,
                     initial_state=initial_state, cu_seqlens=cu_seqlens,
                     flags=_delta_flags(use_qk_l2norm_in_kernel), chunk_size=chunk_size,
                     state_v_first=state_v_first,
                     intermediate_states=intermediate_states)


def chunk_gla_backward(q, k, v, g, do, dht=None, scale=None, initial_state=None,
                       cu_seqlens=None, use_qk_l2norm_in_kernel=False, *, chunk_size=0,
                       intermediate_states=None, state_v_first=False):
    """Gradients of chunk_gla (g [B, T, HV, K])."""
    return _backward(_op("gla"), "chunk_gla_backward", q, k, v, do, g=g, dht=dht, scale=scale,
                     initial_state=initial_state, cu_seqlens=cu_seqlens,
                     flags=_delta_flags(use_qk_l2norm_in_kernel), chunk_size=chunk_size,
                     state_v_first=state_v_first, g_channel=True,
                     intermediate_states=intermediate_states)


def chunk_kda_backward(q, k, v, g, beta, do, dht=None, scale=None, initial_state=None,
                       cu_seqlens=None, use_qk_l2norm_in_kernel=False, *, chunk_size=0,
                       intermediate_states=None, state_v_first=False):
    """Gradients of chunk_kda (g [B, T, HV, K]; beta=None: ones)."""
    return _backward(_op("kda"), "chunk_kda_backward", q, k, v, do, g=g, beta=_beta(beta, v),
                     dht=dht, scale=scale, initial_state=initial_state,
                     cu_seqlens=cu_seqlens, flags=_delta_flags(use_qk_l2norm_in_kernel),
                     chunk_size=chunk_size, state_v_first=state_v_first, g_channel=True,
                     intermediate_states=intermediate_states)
