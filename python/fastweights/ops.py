"""Scans with flash-linear-attention's names, argument order and defaults.

Every function takes numpy arrays q, k [B, T, H, K], v [B, T, HV, V] and,
where the op has them, g and beta [B, T, HV] (g [B, T, HV, K] for the gates
per key channel of GLA and KDA), and returns (o, final_state):
o [B, T, HV, V] in v's dtype, final_state [N, HV, K, V] float32 or None
(with output_intermediate_states=True, (o, final_state, intermediate_states)).
q, k, v, g and beta may each be float32, float16 or ml_dtypes.bfloat16 (the
kernels widen them as they load rows and compute in float32); other dtypes
are converted to float32. Strided views whose last axis is contiguous are
passed without a copy. States are float32.

Keyword-only, after fla's arguments (names after fla and vLLM):
  chunk_size=0            chunked functions: 0 = the library's pick
  state_indices=None      int32 [N]: initial_state is then a pool [P, HV, K, V]
                          and sequence n reads slot state_indices[n]; a
                          negative index is a padding entry (zero outputs,
                          no slot read or written)
  inplace_final_state=True  with state_indices: the final states go back into
                          the pool's slots (the pool is updated in place and
                          returned as final_state when output_final_state);
                          False: a new [N, HV, K, V] array, zeros for padding
  state_v_first=False     every state is [.., V, K] (vLLM, sglang, llama.cpp)
  output_intermediate_states=False  also return the state after every token
                          (fused_recurrent_*) or chunk (chunk_*):
                          [N, S, HV, K, V], S the longest sequence's tokens or
                          chunks; rows past a shorter sequence's end are zeros
  out=None                an array [B, T, HV, V] (float32, float16 or
                          bfloat16, writable, last axis contiguous) to write o
                          into, rounded once to its dtype; it is returned as o
"""
import ctypes
import math

import numpy as np

from ._lib import OPS, ScanArgs, check, lib

FLAG_NORMALIZE = 0x1
FLAG_QK_L2NORM = 0x2
FLAG_STATE_V_FIRST = 0x4
FLAG_FINAL_STATE_BY_SEQUENCE = 0x8
FLAG_BETA_SIGMOID = 0x10
FLAG_NEG_EIGVAL = 0x20
MODE_AUTO, MODE_CHUNKED, MODE_RECURRENT = 0, 1, 2


# numpy dtype name -> fw_dtype: the dtypes the kernels read and write.
DTYPES = {"float32": 0, "float16": 1, "bfloat16": 2}


def _as_operand(x, name, ndim):
    """x as an array the kernels read as it is: float32, float16 or bfloat16
    (ml_dtypes) kept, any other dtype converted to float32."""
    a = np.asarray(x)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {a.shape}")
    if a.dtype.name not in DTYPES:
        a = a.astype(np.float32)
    n = a.itemsize
    usable = (all(s >= 0 and s % n == 0 for s in a.strides)
              and (a.shape[-1] == 1 or a.strides[-1] == n))
    return a if usable else np.ascontiguousarray(a)


def _inputs(q, k, v, g, beta, cu_seqlens, g_channel):
    """q, k, v, g and beta as the kernels read them, their shapes checked
    against q's (B, T, H, K) and v's HV; cu_seqlens as int64 offsets."""
    q, k, v = _as_operand(q, "q", 4), _as_operand(k, "k", 4), _as_operand(v, "v", 4)
    B, T, H, K = q.shape
    HV = v.shape[2]
    if k.shape != q.shape:
        raise ValueError(f"k shape {k.shape} differs from q shape {q.shape}")
    if v.shape[:2] != (B, T):
        raise ValueError(f"v shape {v.shape} does not start with (B, T) = {(B, T)}")
    g_shape = (B, T, HV, K) if g_channel else (B, T, HV)
    for name, x, shape in (("g", g, g_shape), ("beta", beta, (B, T, HV))):
        if x is not None and np.shape(x) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {np.shape(x)}")
    g = None if g is None else _as_operand(g, "g", len(g_shape))
    beta = None if beta is None else _as_operand(beta, "beta", 3)
    cu = None
    if cu_seqlens is not None:
        cu = np.ascontiguousarray(cu_seqlens, dtype=np.int64)
        if cu.ndim != 1 or cu.size < 2:
            raise ValueError("cu_seqlens must be a 1-D array of N + 1 offsets")
    return q, k, v, g, beta, cu


def _tensor(t, a, rows=True):
    """Points fw_tensor t at a (its fw_dtype, element strides; a row's last
    stride is 1 as the C ABI wants, whatever numpy says of a size-1 axis)."""
    if a is None:
        return
    t.data = a.ctypes.data
    t.dtype = DTYPES[a.dtype.name]
    st = [s // a.itemsize for s in a.strides]
    if rows:
        st[-1] = 1
    for i, s in enumerate(st):
        t.stride[i] = s


def _output(out, shape, like):
    """o: a new array of v's dtype, or the caller's out, checked."""
    if out is None:
        return np.empty(shape, dtype=like.dtype)
    if (not isinstance(out, np.ndarray) or out.dtype.name not in DTYPES
            or not out.flags.writeable):
        raise ValueError("out must be a writable float32, float16 or bfloat16 numpy array")
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape}, got {out.shape}")
    if out.strides[-1] != out.itemsize or any(s < 0 or s % out.itemsize for s in out.strides):
        raise ValueError("out: the last axis must be contiguous")
    return out


def _dense_state(x, shape, name):
    if x is None:
        return None
    a = np.ascontiguousarray(x, dtype=np.float32)
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
    return a


def _pool(x, tail, name):
    """A state pool updated in place: float32, writable, last axis contiguous."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or not x.flags.writeable:
        raise ValueError(f"{name} with state_indices must be a writable float32 numpy array")
    if x.ndim != 1 + len(tail) or x.shape[1:] != tail:
        raise ValueError(f"{name} must have shape [P, {', '.join(map(str, tail))}], got {x.shape}")
    if x.strides[-1] != 4 or any(s < 0 or s % 4 for s in x.strides):
        raise ValueError(f"{name}: the last axis must be contiguous")
    return x


LINE_FLOATS = 16  # a cache line


def line_view(base, shape):
    """An array of `shape` inside float32 `base` (LINE_FLOATS longer than it
    holds), starting on a cache line as torch's tensors do. numpy's own
    arrays start 16 bytes into one, and the kernels stream only whole-line
    rows past the caches: the chunked forward that keeps its states took
    1.17x the plain one's time into such an array, 1.05x on lines (Zen 4,
    T = 4096, H = 16, K = V = 128)."""
    start = (-base.ctypes.data % 64) // base.itemsize
    return base[start:start + math.prod(shape)].reshape(shape)


def _scan(op, where, q, k, v, g=None, beta=None, scale=None, initial_state=None,
          output_final_state=False, cu_seqlens=None, mode=MODE_AUTO, chunk_size=0, flags=0,
          eps=1e-10, state_indices=None, inplace_final_state=True, state_v_first=False,
          output_intermediate_states=False, g_channel=False, A_log=None, dt_bias=None,
          out=None, intermediate_buffer=None):
    q, k, v, g, beta, cu = _inputs(q, k, v, g, beta, cu_seqlens, g_channel)
    B, T, H, K = q.shape
    HV, V = v.shape[2], v.shape[3]
    N = B if cu is None else cu.size - 1

    normalize = bool(flags & FLAG_NORMALIZE)
    if state_v_first:
        flags |= FLAG_STATE_V_FIRST
    tail = (HV, V, K) if state_v_first else (HV, K, V)
    pair = normalize and isinstance(initial_state, tuple)
    S0, z0 = initial_state if pair else (initial_state, None)
    slots = None
    if state_indices is not None:
        slots = np.ascontiguousarray(state_indices, dtype=np.int32)
        if slots.shape != (N,):
            raise ValueError(f"state_indices must have shape ({N},), got {slots.shape}")
        if S0 is None:
            raise ValueError("state_indices needs initial_state: the state pool")
        S0 = _pool(S0, tail, "initial_state")
        z0 = None if z0 is None else _pool(z0, (HV, K), "initial normaliser state")
        P = S0.shape[0]
    else:
        S0 = _dense_state(S0, (N,) + tail, "initial_state")
        z0 = _dense_state(z0, (N, HV, K), "initial normaliser state")
    o = _output(out, (B, T, HV, V), v)
    in_pool = slots is not None and inplace_final_state
    if in_pool:
        S1, z1 = S0, z0
    else:
        if slots is not None:
            flags |= FLAG_FINAL_STATE_BY_SEQUENCE
        S1 = np.empty((N,) + tail, dtype=np.float32) if output_final_state else None
        z1 = np.empty((N, HV, K), dtype=np.float32) if (output_final_state and normalize) else None

    a = ScanArgs()
    a.struct_size = ctypes.sizeof(ScanArgs)
    a.mode, a.flags = mode, flags
    a.batch, a.seq_len, a.num_heads, a.num_value_heads = B, T, H, HV
    a.head_dim_k, a.head_dim_v, a.chunk_size = K, V, chunk_size
    a.scale = 0.0 if scale is None else float(scale)
    a.eps = eps
    _tensor(a.q, q)
    _tensor(a.k, k)
    _tensor(a.v, v)
    _tensor(a.o, o)
    _tensor(a.g, g, rows=g_channel)
    _tensor(a.beta, beta, rows=False)
    _tensor(a.initial_state, S0)
    _tensor(a.final_state, S1)
    _tensor(a.initial_norm, z0)
    _tensor(a.final_norm, z1)
    if A_log is not None:  # fla's use_gate_in_kernel: g holds the raw gate
        A_log = np.ascontiguousarray(A_log, dtype=np.float32)
        if A_log.shape != (HV,):
            raise ValueError(f"A_log must have shape {(HV,)}, got {A_log.shape}")
        _tensor(a.A_log, A_log, rows=False)
        if dt_bias is not None:
            bias_shape = (HV, K) if g_channel else (HV,)
            dt_bias = np.ascontiguousarray(dt_bias, dtype=np.float32).reshape(-1)
            if dt_bias.size != int(np.prod(bias_shape)):
                raise ValueError(f"dt_bias must hold {bias_shape} values, got {dt_bias.size}")
            dt_bias = dt_bias.reshape(bias_shape)
            _tensor(a.dt_bias, dt_bias, rows=g_channel)
    if cu is not None:
        a.cu_seqlens, a.num_seqs = cu.ctypes.data, N
    if slots is not None:
        a.state_indices, a.num_state_slots = slots.ctypes.data, P
    inter = None
    if output_intermediate_states:
        steps = ctypes.c_int64()
        check(lib.fw_intermediate_state_count(op, ctypes.byref(a), ctypes.byref(steps)), where)
        shape = (N, steps.value) + tail
        # intermediate_buffer(shape): fastweights.torch's kept buffers
        inter = (intermediate_buffer(shape) if intermediate_buffer else
                 line_view(np.zeros(math.prod(shape) + LINE_FLOATS, dtype=np.float32), shape))
        _tensor(a.intermediate_states, inter)
    check(lib.fw_scan(op, ctypes.byref(a)), where)
    if not output_final_state:
        final = None
    else:
        final = (S1, z1) if normalize else S1
    return (o, final, inter) if output_intermediate_states else (o, final)


def _op(name):
    return OPS[name][0]


_SERVING = ("state_indices", "inplace_final_state", "state_v_first", "output_intermediate_states",
            "out")


def _serving(where, kw):
    """The serving keywords (module docstring); anything else is a TypeError."""
    unknown = sorted(set(kw) - set(_SERVING))
    if unknown:
        raise TypeError(f"{where}() got unexpected keyword arguments {unknown}")
    return kw


def _no(where, **unsupported):
    for name, value in unsupported.items():
        if value is not None and value is not False:
            raise NotImplementedError(f"{where}: {name} is not supported by fastweights yet")


def _delta_flags(use_qk_l2norm_in_kernel, use_beta_sigmoid_in_kernel=False,
                 allow_neg_eigval=False):
    return ((FLAG_QK_L2NORM if use_qk_l2norm_in_kernel else 0)
            | (FLAG_BETA_SIGMOID if use_beta_sigmoid_in_kernel else 0)
            | (FLAG_NEG_EIGVAL if allow_neg_eigval else 0))


def _gate_args(where, use_gate_in_kernel, A_log, dt_bias):
    """fla's use_gate_in_kernel: g is then the raw gate a, and the kernels take
    g = -exp(A_log) * softplus(a + dt_bias); A_log [HV], dt_bias [HV] (per
    head) or [HV * K] / [HV, K] (per key channel) or None."""
    if not use_gate_in_kernel:
        if A_log is not None or dt_bias is not None:
            raise ValueError(f"{where}: A_log and dt_bias need use_gate_in_kernel=True")
        return {}
    if A_log is None:
        raise ValueError(f"{where}: use_gate_in_kernel=True needs A_log")
    return {"A_log": A_log, "dt_bias": dt_bias}


def chunk_linear_attn(q, k, v, scale=None, initial_state=None, output_final_state=False,
                      normalize=True, cu_seqlens=None, *, chunk_size=0, eps=1e-10, **serving):
    """Chunked linear attention. normalize=True (fla's default): o_t =
    scale q_t S_t / (scale q_t . z_t + eps), z_t = z_{t-1} + k_t; initial_state
    may then be a pair (S, z [N, HV, K]) and the final state is (S, z)."""
    return _scan(_op("linear_attn"), "chunk_linear_attn", q, k, v, scale=scale,
                 initial_state=initial_state, output_final_state=output_final_state,
                 cu_seqlens=cu_seqlens, mode=MODE_CHUNKED, chunk_size=chunk_size,
                 flags=FLAG_NORMALIZE if normalize else 0, eps=eps,
                 **_serving('chunk_linear_attn', serving))


def fused_recurrent_linear_attn(q, k, v, scale=None, initial_state=None,
                                output_final_state=False, reverse=False, normalize=False,
                                cu_seqlens=None, *, eps=1e-10, **serving):
    """Linear attention one token at a time (decode); see chunk_linear_attn."""
    _no("fused_recurrent_linear_attn", reverse=reverse)
    return _scan(_op("linear_attn"), "fused_recurrent_linear_attn", q, k, v, scale=scale,
                 initial_state=initial_state, output_final_state=output_final_state,
                 cu_seqlens=cu_seqlens, mode=MODE_RECURRENT,
                 flags=FLAG_NORMALIZE if normalize else 0, eps=eps,
                 **_serving('fused_recurrent_linear_attn', serving))


def _gla_gate(g, g_gamma, q, v, where):
    """g [B, T, HV], or fla's g_gamma [HV] (a constant per-head log-decay),
    broadcast over (B, T) without a copy; None for no gate."""
    if g is not None and g_gamma is not None:
        raise ValueError(f"{where}: pass g or g_gamma, not both")
    if g_gamma is None:
        return g
    gamma = np.asarray(g_gamma, dtype=np.float32)
    HV = np.shape(v)[2]
    if gamma.shape != (HV,):
        raise ValueError(f"{where}: g_gamma must have shape ({HV},), got {gamma.shape}")
    return np.broadcast_to(gamma, np.shape(v)[:2] + (HV,))


def chunk_simple_gla(q, k, v, g=None, g_gamma=None, scale=None, initial_state=None,
                     output_final_state=False, cu_seqlens=None, *, chunk_size=0, **serving):
    """Gated linear attention with a scalar log-decay per token and value head:
    g [B, T, HV] <= 0, or g_gamma [HV] for a constant one; neither: no gate."""
    g = _gla_gate(g, g_gamma, q, v, "chunk_simple_gla")
    op = "simple_gla" if g is not None else "linear_attn"
    return _scan(_op(op), "chunk_simple_gla", q, k, v, g=g, scale=scale,
                 initial_state=initial_state, output_final_state=output_final_state,
                 cu_seqlens=cu_seqlens, mode=MODE_CHUNKED, chunk_size=chunk_size,
                 **_serving('chunk_simple_gla', serving))


def fused_recurrent_simple_gla(q, k, v, g=None, g_gamma=None, scale=None, initial_state=None,
                               output_final_state=False, reverse=False, cu_seqlens=None,
                               **serving):
    """Gated linear attention one token at a time; see chunk_simple_gla."""
    _no("fused_recurrent_simple_gla", reverse=reverse)
    g = _gla_gate(g, g_gamma, q, v, "fused_recurrent_simple_gla")
    op = "simple_gla" if g is not None else "linear_attn"
    return _scan(_op(op), "fused_recurrent_simple_gla", q, k, v, g=g, scale=scale,
                 initial_state=initial_state, output_final_state=output_final_state,
                 cu_seqlens=cu_seqlens, mode=MODE_RECURRENT,
                 **_serving('fused_recurrent_simple_gla', serving))


def _beta(beta, v):
    """fla's beta=None: ones, broadcast without a copy."""
    if beta is not None:
        return beta
    return np.broadcast_to(np.float32(1.0), np.shape(v)[:3])


def chunk_delta_rule(q, k, v, beta=None, scale=None, initial_state=None,
                     output_final_state=False, use_qk_l2norm_in_kernel=False, cu_seqlens=None,
                     *, chunk_size=0, **serving):
    """Delta rule, chunked in the WY/UT form; beta=None means ones."""
    return _scan(_op("delta_rule"), "chunk_delta_rule", q, k, v, beta=_beta(beta, v),
                 scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 mode=MODE_CHUNKED, chunk_size=chunk_size,
                 flags=_delta_flags(use_qk_l2norm_in_kernel),
                 **_serving('chunk_delta_rule', serving))


def fused_recurrent_delta_rule(q, k, v, beta=None, scale=None, initial_state=None,
                               output_final_state=False, use_qk_l2norm_in_kernel=False,
                               cu_seqlens=None, **serving):
    """Delta rule one token at a time (decode); beta=None means ones."""
    return _scan(_op("delta_rule"), "fused_recurrent_delta_rule", q, k, v,
                 beta=_beta(beta, v), scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 mode=MODE_RECURRENT, flags=_delta_flags(use_qk_l2norm_in_kernel),
                 **_serving('fused_recurrent_delta_rule', serving))


def chunk_gated_delta_rule(q, k, v, g, beta, scale=None, initial_state=None,
                           output_final_state=False, use_qk_l2norm_in_kernel=False,
                           cu_seqlens=None, *, chunk_size=0, use_gate_in_kernel=False, A_log=None,
                           dt_bias=None, use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False,
                           **serving):
    """Gated delta rule (Qwen3-Next): decay by exp(g) before computing the error.
    fla's gate and beta options: see _gate_args and _delta_flags."""
    where = "chunk_gated_delta_rule"
    return _scan(_op("gated_delta_rule"), where, q, k, v, g=g,
                 beta=_beta(beta, v), scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 mode=MODE_CHUNKED, chunk_size=chunk_size,
                 flags=_delta_flags(use_qk_l2norm_in_kernel, use_beta_sigmoid_in_kernel,
                                    allow_neg_eigval),
                 **_gate_args(where, use_gate_in_kernel, A_log, dt_bias),
                 **_serving(where, serving))


def fused_recurrent_gated_delta_rule(q, k, v, g=None, gk=None, gv=None, beta=None, scale=None,
                                     initial_state=None, output_final_state=False,
                                     use_qk_l2norm_in_kernel=False, cu_seqlens=None, *,
                                     use_gate_in_kernel=False, A_log=None, dt_bias=None,
                                     use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False,
                                     **serving):
    """Gated delta rule one token at a time (decode). g=None: no gate (the
    delta rule); gk [B, T, HV, K]: a gate per key channel (KDA); beta=None:
    ones. A value gate gv, or g and gk at once: not yet."""
    where = "fused_recurrent_gated_delta_rule"
    _no(where, gv=gv)
    if g is not None and gk is not None:
        raise NotImplementedError(f"{where}: g and gk at once are not supported by fastweights yet")
    op = "kda" if gk is not None else "gated_delta_rule" if g is not None else "delta_rule"
    return _scan(_op(op), where, q, k, v, g=gk if gk is not None else g,
                 beta=_beta(beta, v), scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 mode=MODE_RECURRENT,
                 flags=_delta_flags(use_qk_l2norm_in_kernel, use_beta_sigmoid_in_kernel,
                                    allow_neg_eigval),
                 g_channel=gk is not None, **_gate_args(where, use_gate_in_kernel, A_log, dt_bias),
                 **_serving(where, serving))


def chunk_gla(q, k, v, g, scale=None, initial_state=None, output_final_state=False,
              cu_seqlens=None, *, chunk_size=0, **serving):
    """Gated linear attention with a log-decay per token, value head and key
    channel: g [B, T, HV, K] <= 0; row i of the state decays by exp(g[..., i])."""
    return _scan(_op("gla"), "chunk_gla", q, k, v, g=g, scale=scale,
                 initial_state=initial_state, output_final_state=output_final_state,
                 cu_seqlens=cu_seqlens, mode=MODE_CHUNKED, chunk_size=chunk_size,
                 g_channel=True, **_serving("chunk_gla", serving))


def fused_recurrent_gla(q, k, v, gk=None, gv=None, scale=None, initial_state=None,
                        output_final_state=False, reverse=False, cu_seqlens=None, **serving):
    """Gated linear attention one token at a time; gk [B, T, HV, K] as
    chunk_gla's g (None: no gate). A value gate gv: not yet."""
    _no("fused_recurrent_gla", gv=gv, reverse=reverse)
    op = "gla" if gk is not None else "linear_attn"
    return _scan(_op(op), "fused_recurrent_gla", q, k, v, g=gk, scale=scale,
                 initial_state=initial_state, output_final_state=output_final_state,
                 cu_seqlens=cu_seqlens, mode=MODE_RECURRENT, g_channel=gk is not None,
                 **_serving("fused_recurrent_gla", serving))


def _kda(where, mode, q, k, v, g, beta, scale, initial_state, output_final_state,
         use_qk_l2norm_in_kernel, cu_seqlens, chunk_size, use_gate_in_kernel, A_log, dt_bias,
         use_beta_sigmoid_in_kernel, allow_neg_eigval, serving):
    return _scan(_op("kda"), where, q, k, v, g=g, beta=_beta(beta, v), scale=scale,
                 initial_state=initial_state, output_final_state=output_final_state,
                 cu_seqlens=cu_seqlens, mode=mode, chunk_size=chunk_size,
                 flags=_delta_flags(use_qk_l2norm_in_kernel, use_beta_sigmoid_in_kernel,
                                    allow_neg_eigval),
                 g_channel=True, **_gate_args(where, use_gate_in_kernel, A_log, dt_bias),
                 **_serving(where, serving))


def chunk_kda(q, k, v, g, beta=None, scale=None, initial_state=None, output_final_state=False,
              use_qk_l2norm_in_kernel=False, cu_seqlens=None, *, chunk_size=0,
              use_gate_in_kernel=False, A_log=None, dt_bias=None,
              use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False, **serving):
    """Kimi Delta Attention: the gated delta rule with a log-decay per key
    channel, g [B, T, HV, K] <= 0 (S' = diag(exp(g_t)) S); beta=None means ones.
    fla's gate and beta options: see _gate_args and _delta_flags."""
    return _kda("chunk_kda", MODE_CHUNKED, q, k, v, g, beta, scale, initial_state,
                output_final_state, use_qk_l2norm_in_kernel, cu_seqlens, chunk_size,
                use_gate_in_kernel, A_log, dt_bias, use_beta_sigmoid_in_kernel,
                allow_neg_eigval, serving)


def fused_recurrent_kda(q, k, v, g, beta=None, scale=None, initial_state=None,
                        output_final_state=False, use_qk_l2norm_in_kernel=False,
                        cu_seqlens=None, *, use_gate_in_kernel=False, A_log=None, dt_bias=None,
                        use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False, **serving):
    """Kimi Delta Attention one token at a time (decode); see chunk_kda."""
    return _kda("fused_recurrent_kda", MODE_RECURRENT, q, k, v, g, beta, scale, initial_state,
                output_final_state, use_qk_l2norm_in_kernel, cu_seqlens, 0,
                use_gate_in_kernel, A_log, dt_bias, use_beta_sigmoid_in_kernel,
                allow_neg_eigval, serving)
