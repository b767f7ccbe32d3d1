"""The library's scans and feature maps as torch.library custom ops.

One forward op per registry op and form (fastweights::chunk_<op>,
fastweights::fused_recurrent_<op>), one backward op per registry op
(fastweights::chunk_<op>_backward), and fastweights::feature_map /
feature_map_backward; each has a fake (meta) implementation, so
torch.compile traces through it, and the forwards carry an autograd formula
that calls the backward op. The public functions with fla's names are in
fastweights.torch. Tensors reach the kernels through zero-copy numpy views
(ops.py then passes every view whose last axis is contiguous as it is).

Every forward op has one schema, whatever the op: absent inputs are None,
absent outputs are empty tensors (custom ops return a fixed tuple).
"""
import math
import threading
import weakref

import numpy as np
import torch

from . import backward as _backward
from . import feature_maps as _feature_maps
from .ops import (FLAG_NORMALIZE, FLAG_STATE_V_FIRST, LINE_FLOATS, MODE_CHUNKED, MODE_RECURRENT,
                  _beta, _scan, line_view)
from ._lib import OPS, lib

try:  # numpy's bfloat16, for zero-copy views of bf16 tensors
    import ml_dtypes
except ImportError:  # pragma: no cover - pyproject.toml requires it
    ml_dtypes = None

GATE_NONE, GATE_SCALAR, GATE_CHANNEL = 0, 1, 2
# The dtypes the kernels read and write as they are; others are computed in
# float32 and the results cast back to the input's dtype.
KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_EMPTY = (0,)

_SCAN_SCHEMA = ("(Tensor q, Tensor k, Tensor v, Tensor? g, Tensor? beta, float scale, "
                "Tensor? initial_state, Tensor? initial_norm, bool output_final_state, "
                "Tensor? cu_seqlens, int flags, int chunk_size, float eps, "
                "bool save_states=False) -> (Tensor, Tensor, Tensor, Tensor)")
_BACKWARD_SCHEMA = ("(Tensor q, Tensor k, Tensor v, Tensor? g, Tensor? beta, Tensor do, "
                    "Tensor? dht, float scale, Tensor? initial_state, Tensor? initial_norm, "
                    "Tensor? cu_seqlens, int flags, int chunk_size, float eps, "
                    "Tensor? chunk_states=None) "
                    "-> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)")


def as_numpy(t):
    """A numpy view of CPU tensor t sharing its memory (bf16 through
    ml_dtypes); None stays None."""
    if t is None:
        return None
    if t.device.type != "cpu":
        raise ValueError(f"fastweights runs on the CPU; got a tensor on {t.device}")
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def as_torch(a):
    """A tensor sharing numpy array a's memory; None stays None."""
    if a is None:
        return None
    if a.dtype.name == "bfloat16":
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


def _kernel_input(t):
    """t as the kernels read it: a kernel dtype kept, any other float32."""
    if t is None or t.dtype in KERNEL_DTYPES:
        return t
    return t.float()


def _state_shape(q, v, cu_seqlens, flags):
    """[N, HV, K, V], or [N, HV, V, K] for V-first states."""
    N = q.shape[0] if cu_seqlens is None else cu_seqlens.shape[0] - 1
    K, HV, V = q.shape[3], v.shape[2], v.shape[3]
    return (N, HV, V, K) if flags & FLAG_STATE_V_FIRST else (N, HV, K, V)


def _ones_if(has_beta, beta, v):
    """fla's beta=None for the delta rules: ones, broadcast without a copy."""
    return _beta(None, v) if has_beta and beta is None else beta


def _fake_chunk_states_shape(op, q, v, cu_seqlens, flags, chunk_size):
    """[N, S, HV, K, V] (V-first: [N, S, HV, V, K]), as the library sizes a
    chunked call's intermediate states (fw_intermediate_state_count, which
    the real call asks): S chunks of the longest sequence. With cu_seqlens
    that length is data a fake call cannot read: a size torch learns at run
    time."""
    N, *tail = _state_shape(q, v, cu_seqlens, flags)
    if cu_seqlens is not None:
        return (N, torch.library.get_ctx().new_dynamic_size(), *tail)
    C = max(chunk_size or lib.fw_chunk_size(op, q.shape[3]), 1)  # bad K: the scan reports it
    return (N, (q.shape[1] + C - 1) // C, *tail)


class _KeptBuffers:
    """Buffers for the forward's chunk states (save_chunk_states), reused
    once autograd lets a step's go: fresh pages cost a fault each (256 MiB
    took 100-125 ms to touch first, 11 ms after, on Zen 4), more than
    reading the states saves the backward. A buffer comes back when the
    tensor's storage is freed (the numpy view it was made from dies with
    it), and up to kMax free ones wait for a call that fits them. Each
    starts on a cache line (ops.line_view)."""
    kMax = 16

    def __init__(self):
        self._lock = threading.Lock()
        self._free = []  # numpy buffers, LINE_FLOATS longer than they hold

    def take(self, shape, zeros=False):
        """zeros: packed sequences leave the rows past a shorter one's end
        as they are, and a reused buffer holds another call's states."""
        n = math.prod(shape)
        with self._lock:
            fits = [i for i, b in enumerate(self._free) if n <= b.size - LINE_FLOATS <= 2 * n]
            best = min(fits, key=lambda i: self._free[i].size) if fits else None
            base = None if best is None else self._free.pop(best)
        if base is None:
            base = np.empty(n + LINE_FLOATS, dtype=np.float32)
        view = line_view(base, shape)
        if zeros:
            view.fill(0.0)
        weakref.finalize(view, self._give, base)
        return torch.from_numpy(view)

    def _give(self, base):
        with self._lock:
            if len(self._free) < self.kMax:
                self._free.append(base)

    def clear(self):
        with self._lock:
            self._free.clear()


_KEPT = _KeptBuffers()


def _scan_impl(op, mode, g_channel, has_beta):
    def impl(q, k, v, g, beta, scale, initial_state, initial_norm, output_final_state,
             cu_seqlens, flags, chunk_size, eps, save_states=False):
        normalize = bool(flags & FLAG_NORMALIZE)
        state0 = as_numpy(initial_state)
        if normalize and initial_norm is not None:
            state0 = (state0, as_numpy(initial_norm))
        o = torch.empty(v.shape, dtype=v.dtype if v.dtype in KERNEL_DTYPES else torch.float32)
        q_, k_, v_, g_, beta_ = (as_numpy(_kernel_input(x)) for x in (q, k, v, g, beta))
        keep = save_states and mode == "chunk"
        kept = []  # the chunk states' tensor, sized by the scan once its checks pass

        def buffer(shape):
            kept.append(_KEPT.take(shape, zeros=cu_seqlens is not None))
            return as_numpy(kept[0])
        _, final, *_ = _scan(
            op, f"fastweights::{mode}", q_, k_, v_, g=g_, beta=_ones_if(has_beta, beta_, v_),
            scale=scale or None, initial_state=state0, output_final_state=output_final_state,
            cu_seqlens=as_numpy(cu_seqlens),
            mode=MODE_CHUNKED if mode == "chunk" else MODE_RECURRENT, chunk_size=chunk_size,
            flags=flags & ~FLAG_STATE_V_FIRST, eps=eps,
            state_v_first=bool(flags & FLAG_STATE_V_FIRST), g_channel=g_channel,
            output_intermediate_states=keep, out=as_numpy(o),
            intermediate_buffer=buffer)
        state1, norm1 = final if normalize and final is not None else (final, None)
        return (o.to(v.dtype), torch.empty(_EMPTY) if state1 is None else as_torch(state1),
                torch.empty(_EMPTY) if norm1 is None else as_torch(norm1),
                kept[0] if keep else torch.empty(_EMPTY))
    return impl


def _scan_fake_of(op, mode):
    def fake(q, k, v, g, beta, scale, initial_state, initial_norm, output_final_state,
             cu_seqlens, flags, chunk_size, eps, save_states=False):
        shape = _state_shape(q, v, cu_seqlens, flags)
        state = q.new_empty(shape if output_final_state else _EMPTY, dtype=torch.float32)
        normalize = output_final_state and flags & FLAG_NORMALIZE
        norm = q.new_empty((shape[0], v.shape[2], q.shape[3]) if normalize else _EMPTY,
                           dtype=torch.float32)
        keep = save_states and mode == "chunk"
        kept = q.new_empty(_fake_chunk_states_shape(op, q, v, cu_seqlens, flags, chunk_size)
                           if keep else _EMPTY, dtype=torch.float32)
        return v.new_empty(v.shape), state, norm, kept
    return fake


def _backward_impl(op, g_channel, has_beta):
    def impl(q, k, v, g, beta, do, dht, scale, initial_state, initial_norm, cu_seqlens, flags,
             chunk_size, eps, chunk_states=None):
        state0 = as_numpy(initial_state)
        if flags & FLAG_NORMALIZE and initial_norm is not None:
            state0 = (state0, as_numpy(initial_norm))
        q_, k_, v_, g_, beta_, do_ = (as_numpy(_kernel_input(x)) for x in (q, k, v, g, beta, do))
        grads = _backward._backward(
            op, "fastweights::backward", q_, k_, v_, do_, g=g_, beta=_ones_if(has_beta, beta_, v_),
            dht=as_numpy(dht), scale=scale or None, initial_state=state0,
            cu_seqlens=as_numpy(cu_seqlens), flags=flags & ~FLAG_STATE_V_FIRST,
            chunk_size=chunk_size, eps=eps,
            state_v_first=bool(flags & FLAG_STATE_V_FIRST), g_channel=g_channel,
            intermediate_states=as_numpy(chunk_states))
        # beta None (ones) still has a gradient from the kernels: dropped
        inputs = (q, k, v, g, beta, initial_state)
        return tuple(torch.empty(_EMPTY) if d is None or x is None else as_torch(d).to(x.dtype)
                     for d, x in zip(grads, inputs))
    return impl


def _backward_fake(q, k, v, g, beta, do, dht, scale, initial_state, initial_norm, cu_seqlens,
                   flags, chunk_size, eps, chunk_states=None):
    def like(x, dtype=None):
        return q.new_empty(_EMPTY) if x is None else torch.empty_like(x, dtype=dtype)
    return (like(q), like(k), like(v), like(g), like(beta),
            like(initial_state, torch.float32 if initial_state is None else initial_state.dtype))


def _scan_setup_context(ctx, inputs, output):
    (q, k, v, g, beta, scale, initial_state, initial_norm, _, cu_seqlens, flags, chunk_size,
     eps, *_) = inputs
    kept = output[3]  # the chunk states [N, S, ...] when the forward kept them, else (0,)
    ctx.save_for_backward(q, k, v, g, beta, initial_state, initial_norm, cu_seqlens,
                          kept if kept.dim() == 5 else None)
    ctx.scale, ctx.flags, ctx.chunk_size, ctx.eps = scale, flags, chunk_size, eps
    # An unused output's gradient arrives as None, not zeros: the kept
    # states' zeros (256 MiB at T = 4096, H = 16) took longer than reading
    # them saved.
    ctx.set_materialize_grads(False)


def _scan_autograd(backward_op):
    def backward(ctx, do, dht, dnorm, dkept):
        q, k, v, g, beta, initial_state, initial_norm, cu_seqlens, kept = ctx.saved_tensors
        if dht is not None and dht.numel() == 0:
            dht = None
        if do is None:  # only the final state's gradient
            do = torch.zeros_like(v)
        grads = backward_op(q, k, v, g, beta, do, None if dht is None else dht.float(),
                            ctx.scale, initial_state, initial_norm, cu_seqlens, ctx.flags,
                            ctx.chunk_size, ctx.eps, kept)
        dq, dk, dv, dg, dbeta, dh0 = (None if x is None else d
                                      for d, x in zip(grads, (q, k, v, g, beta, initial_state)))
        # scale, initial_norm (the normaliser's state has no backward yet),
        # output_final_state, cu_seqlens, flags, chunk_size, eps, save_states:
        # no gradient
        return dq, dk, dv, dg, dbeta, None, dh0, None, None, None, None, None, None, None
    return backward


def _define_scans():
    """Registers every registry op's forward ops and backward op."""
    library = torch.library.Library("fastweights", "FRAGMENT")
    scans = {}
    for name, (op, info) in OPS.items():
        g_channel = info.gate == GATE_CHANNEL
        backward_name = f"chunk_{name}_backward"
        library.define(backward_name + _BACKWARD_SCHEMA)
        torch.library.impl(f"fastweights::{backward_name}", "CPU",
                           _backward_impl(op, g_channel, info.has_beta), lib=library)
        torch.library.register_fake(f"fastweights::{backward_name}", _backward_fake, lib=library)
        backward_op = getattr(torch.ops.fastweights, backward_name).default
        for mode in ("chunk", "fused_recurrent"):
            qualified = f"{mode}_{name}"
            library.define(qualified + _SCAN_SCHEMA)
            torch.library.impl(f"fastweights::{qualified}", "CPU",
                               _scan_impl(op, mode, g_channel, info.has_beta), lib=library)
            torch.library.register_fake(f"fastweights::{qualified}", _scan_fake_of(op, mode),
                                        lib=library)
            torch.library.register_autograd(f"fastweights::{qualified}",
                                            _scan_autograd(backward_op),
                                            setup_context=_scan_setup_context, lib=library)
            scans[qualified] = getattr(torch.ops.fastweights, qualified).default
    return library, scans


_LIBRARY, SCANS = _define_scans()


def default_scale(scale, q):
    """fla's scale=None: 1/sqrt(K)."""
    return 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)


# ---- feature maps ----------------------------------------------------------

@torch.library.custom_op("fastweights::feature_map", mutates_args=())
def feature_map_op(x: torch.Tensor, kind: str, nu: int, m: int, seed: int,
                   eps: float) -> torch.Tensor:
    y = _feature_maps.feature_map(as_numpy(_kernel_input(x)), kind, nu=nu, m=m or None,
                                  seed=seed, eps=eps)
    return as_torch(y).to(x.dtype)


@feature_map_op.register_fake
def _(x, kind, nu, m, seed, eps):
    out_dim = _feature_maps.feature_dim(x.shape[-1], kind, nu, m or None)
    return x.new_empty(x.shape[:-1] + (out_dim,))


@torch.library.custom_op("fastweights::feature_map_backward", mutates_args=())
def feature_map_backward_op(x: torch.Tensor, dy: torch.Tensor, kind: str, nu: int, m: int,
                            seed: int, eps: float) -> torch.Tensor:
    dx = _feature_maps.feature_map_backward(as_numpy(_kernel_input(x)),
                                            as_numpy(_kernel_input(dy)), kind, nu=nu,
                                            m=m or None, seed=seed, eps=eps)
    return as_torch(dx).to(x.dtype)


@feature_map_backward_op.register_fake
def _(x, dy, kind, nu, m, seed, eps):
    return torch.empty_like(x)


def _feature_map_setup_context(ctx, inputs, output):
    x, ctx.kind, ctx.nu, ctx.m, ctx.seed, ctx.eps = inputs
    ctx.save_for_backward(x)


def _feature_map_backward(ctx, dy):
    (x,) = ctx.saved_tensors
    dx = feature_map_backward_op(x, dy.contiguous(), ctx.kind, ctx.nu, ctx.m, ctx.seed, ctx.eps)
    return dx, None, None, None, None, None


feature_map_op.register_autograd(_feature_map_backward,
                                 setup_context=_feature_map_setup_context)
