"""Scans with flash-linear-attention's names and argument order.

Every function takes numpy arrays q, k [B, T, H, K], v [B, T, HV, V] and,
where the op has them, g and beta [B, T, HV], and returns (o, final_state):
o [B, T, HV, V] float32, final_state [N, HV, K, V] float32 or None.
Inputs of other float dtypes are converted to float32; strided views whose
last axis is contiguous are passed without a copy. chunk_size=0 lets the
library pick the chunk (16 for the delta rules with K <= 128, else 32).
"""
import ctypes

import numpy as np

from ._lib import ScanArgs, check, lib

FLAG_NORMALIZE = 0x1
FLAG_QK_L2NORM = 0x2
MODE_AUTO, MODE_CHUNKED, MODE_RECURRENT = 0, 1, 2


def _as_f32(x, name, ndim):
    a = np.asarray(x)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    if a.dtype != np.float32:
        a = a.astype(np.float32)
    usable = all(s >= 0 and s % 4 == 0 for s in a.strides) and (a.shape[-1] == 1 or a.strides[-1] == 4)
    return a if usable else np.ascontiguousarray(a)


def _strides(a, n):
    """Element strides of a float32 array, last one 1 (as the C ABI wants)."""
    st = [s // 4 for s in a.strides]
    if a.ndim == 4:
        st[-1] = 1
    return (ctypes.c_int64 * n)(*st)


def _ptr(a):
    return None if a is None else a.ctypes.data


def _state(x, shape, name):
    if x is None:
        return None
    a = np.ascontiguousarray(x, dtype=np.float32)
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    return a


def _scan(fn, where, q, k, v, g=None, beta=None, scale=None, initial_state=None,
          output_final_state=False, cu_seqlens=None, mode=MODE_AUTO, chunk_size=0,
          flags=0, eps=1e-6):
    q, k, v = _as_f32(q, "q", 4), _as_f32(k, "k", 4), _as_f32(v, "v", 4)
    B, T, H, K = q.shape
    HV, V = v.shape[2], v.shape[3]
    if k.shape != q.shape:
        raise ValueError(f"k shape {k.shape} differs from q shape {q.shape}")
    if v.shape[:2] != (B, T):
        raise ValueError(f"v shape {v.shape} does not start with (B, T) = {(B, T)}")
    if g is not None:
        g = _as_f32(g, "g", 3)
        if g.shape != (B, T, HV):
            raise ValueError(f"g must have shape {(B, T, HV)}, got {g.shape}")
    if beta is not None:
        beta = _as_f32(beta, "beta", 3)
        if beta.shape != (B, T, HV):
            raise ValueError(f"beta must have shape {(B, T, HV)}, got {beta.shape}")
    cu = None
    N = B
    if cu_seqlens is not None:
        cu = np.ascontiguousarray(cu_seqlens, dtype=np.int64)
        if cu.ndim != 1 or cu.size < 2:
            raise ValueError("cu_seqlens must be a 1-D array of N + 1 offsets")
        N = cu.size - 1

    normalize = bool(flags & FLAG_NORMALIZE)
    S0, z0 = initial_state if (normalize and isinstance(initial_state, tuple)) else (initial_state, None)
    S0 = _state(S0, (N, HV, K, V), "initial_state")
    z0 = _state(z0, (N, HV, K), "initial normaliser state")
    o = np.empty((B, T, HV, V), dtype=np.float32)
    S1 = np.empty((N, HV, K, V), dtype=np.float32) if output_final_state else None
    z1 = np.empty((N, HV, K), dtype=np.float32) if (output_final_state and normalize) else None

    a = ScanArgs()
    a.struct_size = ctypes.sizeof(ScanArgs)
    a.mode, a.flags = mode, flags
    a.batch, a.seq_len, a.num_heads, a.num_value_heads = B, T, H, HV
    a.head_dim_k, a.head_dim_v, a.chunk_size = K, V, chunk_size
    a.scale = 0.0 if scale is None else float(scale)
    a.eps = eps
    a.q, a.q_stride = _ptr(q), _strides(q, 4)
    a.k, a.k_stride = _ptr(k), _strides(k, 4)
    a.v, a.v_stride = _ptr(v), _strides(v, 4)
    a.o, a.o_stride = _ptr(o), _strides(o, 4)
    if g is not None:
        a.g, a.g_stride = _ptr(g), _strides(g, 3)
    if beta is not None:
        a.beta, a.beta_stride = _ptr(beta), _strides(beta, 3)
    a.initial_state, a.final_state = _ptr(S0), _ptr(S1)
    a.initial_norm, a.final_norm = _ptr(z0), _ptr(z1)
    if cu is not None:
        a.cu_seqlens, a.num_seqs = _ptr(cu), N
    check(fn(ctypes.byref(a)), where)
    final = (S1, z1) if (normalize and S1 is not None) else S1
    return o, final


def chunk_linear_attn(q, k, v, scale=None, initial_state=None, output_final_state=False,
                      cu_seqlens=None, normalize=False, chunk_size=0, eps=1e-6):
    """Chunked linear attention. With normalize=True, o_t = q_t S_t / (q_t . z_t + eps)
    (scale unused), initial_state may be a tuple (S, z) and the final state is (S, z)."""
    return _scan(lib.fw_linear_attn, "chunk_linear_attn", q, k, v, scale=scale,
                 initial_state=initial_state, output_final_state=output_final_state,
                 cu_seqlens=cu_seqlens, mode=MODE_CHUNKED, chunk_size=chunk_size,
                 flags=FLAG_NORMALIZE if normalize else 0, eps=eps)


def fused_recurrent_linear_attn(q, k, v, scale=None, initial_state=None,
                                output_final_state=False, cu_seqlens=None, normalize=False,
                                eps=1e-6):
    """Linear attention one token at a time (decode); see chunk_linear_attn."""
    return _scan(lib.fw_linear_attn, "fused_recurrent_linear_attn", q, k, v, scale=scale,
                 initial_state=initial_state, output_final_state=output_final_state,
                 cu_seqlens=cu_seqlens, mode=MODE_RECURRENT,
                 flags=FLAG_NORMALIZE if normalize else 0, eps=eps)


def chunk_simple_gla(q, k, v, g, scale=None, initial_state=None, output_final_state=False,
                     cu_seqlens=None, chunk_size=0):
    """Gated linear attention with a per-token scalar log-decay g <= 0 (fla's simple_gla)."""
    return _scan(lib.fw_simple_gla, "chunk_simple_gla", q, k, v, g=g, scale=scale,
                 initial_state=initial_state, output_final_state=output_final_state,
                 cu_seqlens=cu_seqlens, mode=MODE_CHUNKED, chunk_size=chunk_size)


def fused_recurrent_simple_gla(q, k, v, g, scale=None, initial_state=None,
                               output_final_state=False, cu_seqlens=None):
    return _scan(lib.fw_simple_gla, "fused_recurrent_simple_gla", q, k, v, g=g, scale=scale,
                 initial_state=initial_state, output_final_state=output_final_state,
                 cu_seqlens=cu_seqlens, mode=MODE_RECURRENT)


def chunk_delta_rule(q, k, v, beta, scale=None, initial_state=None, output_final_state=False,
                     cu_seqlens=None, use_qk_l2norm_in_kernel=False, chunk_size=0):
    """Delta rule, chunked in the WY/UT form."""
    return _scan(lib.fw_delta_rule, "chunk_delta_rule", q, k, v, beta=beta, scale=scale,
                 initial_state=initial_state, output_final_state=output_final_state,
                 cu_seqlens=cu_seqlens, mode=MODE_CHUNKED, chunk_size=chunk_size,
                 flags=FLAG_QK_L2NORM if use_qk_l2norm_in_kernel else 0)


def fused_recurrent_delta_rule(q, k, v, beta, scale=None, initial_state=None,
                               output_final_state=False, cu_seqlens=None,
                               use_qk_l2norm_in_kernel=False):
    return _scan(lib.fw_delta_rule, "fused_recurrent_delta_rule", q, k, v, beta=beta,
                 scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 mode=MODE_RECURRENT, flags=FLAG_QK_L2NORM if use_qk_l2norm_in_kernel else 0)


def chunk_gated_delta_rule(q, k, v, g, beta, scale=None, initial_state=None,
                           output_final_state=False, cu_seqlens=None,
                           use_qk_l2norm_in_kernel=False, chunk_size=0):
    """Gated delta rule (Qwen3-Next): decay by exp(g) before computing the error."""
    return _scan(lib.fw_gated_delta_rule, "chunk_gated_delta_rule", q, k, v, g=g, beta=beta,
                 scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 mode=MODE_CHUNKED, chunk_size=chunk_size,
                 flags=FLAG_QK_L2NORM if use_qk_l2norm_in_kernel else 0)


def fused_recurrent_gated_delta_rule(q, k, v, g, beta, scale=None, initial_state=None,
                                     output_final_state=False, cu_seqlens=None,
                                     use_qk_l2norm_in_kernel=False):
    return _scan(lib.fw_gated_delta_rule, "fused_recurrent_gated_delta_rule", q, k, v, g=g,
                 beta=beta, scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 mode=MODE_RECURRENT, flags=FLAG_QK_L2NORM if use_qk_l2norm_in_kernel else 0)
