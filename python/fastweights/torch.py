"""fastweights for PyTorch: fla's functions on CPU tensors, with autograd.

Swapping `fla.ops` for `fastweights.torch` is the only change a CPU user
makes: the same names, argument order and defaults (fla's layout, q, k
[B, T, H, K], v [B, T, HV, V]; head_first is not taken), returning
(o, final_state) with final_state None unless output_final_state. Each call
is a torch.library custom op (fastweights::chunk_<op>, ...) with a fake
implementation and an autograd formula that runs the library's backward, so
the functions train, and compile with torch.compile(fullgraph=True).

Tensors: CPU; float32, bfloat16 and float16 go to the kernels as they are
(no copy when the last dimension is contiguous) and o comes back in v's
dtype; other dtypes are computed in float32. States are float32 (a state
given in another dtype is read as float32; its gradient comes back in its
dtype). Keyword-only after fla's arguments: chunk_size (0: the library's
pick), state_v_first (every state [N, HV, V, K]), and on the chunk_*
functions save_chunk_states: the forward of a call whose gradient is wanted
keeps the state after every chunk (T / chunk_size states of HV x K x V
floats per sequence: 256 MiB at T = 4096, HV = 16, K = V = 128, chunk 16)
and the backward reads them instead of recomputing them, for a training
step of 0.85-0.91x the time (Zen 4, one thread; README.md). With
cu_seqlens each sequence has room for as many as the longest one has chunks.

fla's gate and beta options are computed with torch ops before the scan, so
their gradients flow too: use_gate_in_kernel (g = -exp(A_log) *
softplus(g + dt_bias)), use_beta_sigmoid_in_kernel, allow_neg_eigval.
The serving keywords of the numpy functions (state pools, intermediate
states, out) are theirs alone: fastweights.chunk_* take numpy arrays.
"""
import torch
import torch.nn.functional as F

from .ops import FLAG_NORMALIZE, FLAG_STATE_V_FIRST, _delta_flags, _no
from ._torch_ops import _KEPT, SCANS, default_scale, feature_map_op

__all__ = [
    "chunk_linear_attn", "fused_recurrent_linear_attn", "chunk_simple_gla",
    "fused_recurrent_simple_gla", "chunk_delta_rule", "fused_recurrent_delta_rule",
    "chunk_gated_delta_rule", "fused_recurrent_gated_delta_rule", "chunk_gla",
    "fused_recurrent_gla", "chunk_kda", "fused_recurrent_kda", "feature_map", "empty_cache",
    "patch_transformers", "unpatch_transformers",
]


def _scan(fn, q, k, v, g=None, beta=None, scale=None, initial_state=None,
          output_final_state=False, cu_seqlens=None, flags=0, chunk_size=0, eps=1e-10,
          state_v_first=False, save_chunk_states=False):
    """Calls custom op `fn` and gives fla's (o, final_state). With
    save_chunk_states, a call whose gradient is wanted keeps its chunk states
    for the backward."""
    normalize = bool(flags & FLAG_NORMALIZE)
    state0, norm0 = (initial_state if normalize and isinstance(initial_state, tuple)
                     else (initial_state, None))
    if state_v_first:
        flags |= FLAG_STATE_V_FIRST
    keep = save_chunk_states and torch.is_grad_enabled() and any(
        x is not None and x.requires_grad for x in (q, k, v, g, beta, state0))
    o, state, norm, _ = SCANS[fn](q, k, v, g, beta, default_scale(scale, q), state0, norm0,
                                  output_final_state, cu_seqlens, flags, chunk_size, eps, keep)
    if not output_final_state:
        return o, None
    return o, ((state, norm) if normalize else state)


def _gate(g, use_gate_in_kernel, A_log, dt_bias, where):
    """fla's use_gate_in_kernel: g holds the raw gate; the log-decay is
    -exp(A_log) * softplus(g + dt_bias), A_log [HV], dt_bias [HV] or [HV, K]
    (flat [HV * K] too)."""
    if not use_gate_in_kernel:
        if A_log is not None or dt_bias is not None:
            raise ValueError(f"{where}: A_log and dt_bias need use_gate_in_kernel=True")
        return g
    if A_log is None:
        raise ValueError(f"{where}: use_gate_in_kernel=True needs A_log")
    raw = g.float()
    if dt_bias is not None:
        raw = raw + dt_bias.float().reshape(raw.shape[2:])
    decay = -A_log.float().exp()
    return decay.reshape(decay.shape + (1,) * (raw.dim() - 3)) * F.softplus(raw)


def _beta(beta, v, use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False):
    """fla's beta=None (ones), sigmoid and doubling, as torch ops (as the
    numpy functions' kernel flags apply them, to ones too)."""
    if beta is None:
        if not (use_beta_sigmoid_in_kernel or allow_neg_eigval):
            return None  # ones, which the custom op passes without a copy
        beta = torch.ones(v.shape[:3], dtype=torch.float32)
    if use_beta_sigmoid_in_kernel:
        beta = beta.sigmoid()
    return beta * 2 if allow_neg_eigval else beta


# ---- linear attention and GLA ------------------------------------------------

def chunk_linear_attn(q, k, v, scale=None, initial_state=None, output_final_state=False,
                      normalize=True, cu_seqlens=None, *, chunk_size=0, eps=1e-10,
                      state_v_first=False, save_chunk_states=False):
    """Chunked linear attention; normalize=True (fla's default) divides by
    scale q_t . z_t + eps, and the state is then the pair (S, z [N, HV, K])
    (z's own gradient is not computed: pass it without requires_grad)."""
    return _scan("chunk_linear_attn", q, k, v, scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 flags=FLAG_NORMALIZE if normalize else 0, chunk_size=chunk_size, eps=eps,
                 state_v_first=state_v_first,
                 save_chunk_states=save_chunk_states)


def fused_recurrent_linear_attn(q, k, v, scale=None, initial_state=None,
                                output_final_state=False, reverse=False, normalize=False,
                                cu_seqlens=None, *, eps=1e-10, state_v_first=False):
    """Linear attention one token at a time; see chunk_linear_attn."""
    _no("fused_recurrent_linear_attn", reverse=reverse)
    return _scan("fused_recurrent_linear_attn", q, k, v, scale=scale,
                 initial_state=initial_state, output_final_state=output_final_state,
                 cu_seqlens=cu_seqlens, flags=FLAG_NORMALIZE if normalize else 0, eps=eps,
                 state_v_first=state_v_first)


def _simple_gate(g, g_gamma, v, where):
    """g [B, T, HV], or g_gamma [HV] broadcast over (B, T) (its gradient is
    then summed by autograd); None: no gate."""
    if g is not None and g_gamma is not None:
        raise ValueError(f"{where}: pass g or g_gamma, not both")
    return g if g_gamma is None else g_gamma.expand(v.shape[:3])


def chunk_simple_gla(q, k, v, g=None, g_gamma=None, scale=None, initial_state=None,
                     output_final_state=False, cu_seqlens=None, *, chunk_size=0,
                     state_v_first=False, save_chunk_states=False):
    """Gated linear attention with a scalar log-decay per token and value head."""
    g = _simple_gate(g, g_gamma, v, "chunk_simple_gla")
    fn = "chunk_simple_gla" if g is not None else "chunk_linear_attn"
    return _scan(fn, q, k, v, g=g, scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 chunk_size=chunk_size, state_v_first=state_v_first,
                 save_chunk_states=save_chunk_states)


def fused_recurrent_simple_gla(q, k, v, g=None, g_gamma=None, scale=None, initial_state=None,
                               output_final_state=False, reverse=False, cu_seqlens=None, *,
                               state_v_first=False):
    """Gated linear attention one token at a time; see chunk_simple_gla."""
    _no("fused_recurrent_simple_gla", reverse=reverse)
    g = _simple_gate(g, g_gamma, v, "fused_recurrent_simple_gla")
    fn = "fused_recurrent_simple_gla" if g is not None else "fused_recurrent_linear_attn"
    return _scan(fn, q, k, v, g=g, scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 state_v_first=state_v_first)


def chunk_gla(q, k, v, g, scale=None, initial_state=None, output_final_state=False,
              cu_seqlens=None, *, chunk_size=0, state_v_first=False, save_chunk_states=False):
    """Gated linear attention with a log-decay per key channel, g [B, T, HV, K]."""
    return _scan("chunk_gla", q, k, v, g=g, scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 chunk_size=chunk_size, state_v_first=state_v_first,
                 save_chunk_states=save_chunk_states)


def fused_recurrent_gla(q, k, v, gk=None, gv=None, scale=None, initial_state=None,
                        output_final_state=False, reverse=False, cu_seqlens=None, *,
                        state_v_first=False):
    """Gated linear attention one token at a time; gk as chunk_gla's g."""
    _no("fused_recurrent_gla", gv=gv, reverse=reverse)
    fn = "fused_recurrent_gla" if gk is not None else "fused_recurrent_linear_attn"
    return _scan(fn, q, k, v, g=gk, scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 state_v_first=state_v_first)


# ---- delta rules ---------------------------------------------------------------

def chunk_delta_rule(q, k, v, beta=None, scale=None, initial_state=None,
                     output_final_state=False, use_qk_l2norm_in_kernel=False, cu_seqlens=None,
                     *, chunk_size=0, state_v_first=False, save_chunk_states=False):
    """The delta rule, chunked; beta=None means ones."""
    return _scan("chunk_delta_rule", q, k, v, beta=beta, scale=scale,
                 initial_state=initial_state, output_final_state=output_final_state,
                 cu_seqlens=cu_seqlens, flags=_delta_flags(use_qk_l2norm_in_kernel),
                 chunk_size=chunk_size, state_v_first=state_v_first,
                 save_chunk_states=save_chunk_states)


def fused_recurrent_delta_rule(q, k, v, beta=None, scale=None, initial_state=None,
                               output_final_state=False, use_qk_l2norm_in_kernel=False,
                               cu_seqlens=None, *, state_v_first=False):
    """The delta rule one token at a time; beta=None means ones."""
    return _scan("fused_recurrent_delta_rule", q, k, v, beta=beta, scale=scale,
                 initial_state=initial_state, output_final_state=output_final_state,
                 cu_seqlens=cu_seqlens, flags=_delta_flags(use_qk_l2norm_in_kernel),
                 state_v_first=state_v_first)


def chunk_gated_delta_rule(q, k, v, g, beta, scale=None, initial_state=None,
                           output_final_state=False, use_qk_l2norm_in_kernel=False,
                           cu_seqlens=None, *, chunk_size=0, use_gate_in_kernel=False,
                           A_log=None, dt_bias=None, use_beta_sigmoid_in_kernel=False,
                           allow_neg_eigval=False, state_v_first=False, save_chunk_states=False):
    """The gated delta rule (Qwen3-Next, Qwen3.5): g [B, T, HV] <= 0."""
    where = "chunk_gated_delta_rule"
    return _scan("chunk_gated_delta_rule", q, k, v,
                 g=_gate(g, use_gate_in_kernel, A_log, dt_bias, where),
                 beta=_beta(beta, v, use_beta_sigmoid_in_kernel, allow_neg_eigval),
                 scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 flags=_delta_flags(use_qk_l2norm_in_kernel), chunk_size=chunk_size,
                 state_v_first=state_v_first,
                 save_chunk_states=save_chunk_states)


def fused_recurrent_gated_delta_rule(q, k, v, g=None, gk=None, gv=None, beta=None, scale=None,
                                     initial_state=None, output_final_state=False,
                                     use_qk_l2norm_in_kernel=False, cu_seqlens=None, *,
                                     use_gate_in_kernel=False, A_log=None, dt_bias=None,
                                     use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False,
                                     state_v_first=False):
    """The gated delta rule one token at a time: g [B, T, HV], or gk
    [B, T, HV, K] (KDA), or neither (the delta rule)."""
    where = "fused_recurrent_gated_delta_rule"
    _no(where, gv=gv)
    if g is not None and gk is not None:
        raise NotImplementedError(f"{where}: g and gk at once are not supported by fastweights yet")
    gate = gk if gk is not None else g
    fn = ("fused_recurrent_kda" if gk is not None else
          "fused_recurrent_gated_delta_rule" if g is not None else "fused_recurrent_delta_rule")
    return _scan(fn, q, k, v, g=None if gate is None else _gate(gate, use_gate_in_kernel, A_log,
                                                              dt_bias, where),
                 beta=_beta(beta, v, use_beta_sigmoid_in_kernel, allow_neg_eigval),
                 scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 flags=_delta_flags(use_qk_l2norm_in_kernel), state_v_first=state_v_first)


def chunk_kda(q, k, v, g, beta=None, scale=None, initial_state=None, output_final_state=False,
              use_qk_l2norm_in_kernel=False, cu_seqlens=None, *, chunk_size=0,
              use_gate_in_kernel=False, A_log=None, dt_bias=None,
              use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False, state_v_first=False, save_chunk_states=False):
    """Kimi Delta Attention: a log-decay per key channel, g [B, T, HV, K]."""
    return _scan("chunk_kda", q, k, v, g=_gate(g, use_gate_in_kernel, A_log, dt_bias, "chunk_kda"),
                 beta=_beta(beta, v, use_beta_sigmoid_in_kernel, allow_neg_eigval),
                 scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 flags=_delta_flags(use_qk_l2norm_in_kernel), chunk_size=chunk_size,
                 state_v_first=state_v_first,
                 save_chunk_states=save_chunk_states)


def fused_recurrent_kda(q, k, v, g, beta=None, scale=None, initial_state=None,
                        output_final_state=False, use_qk_l2norm_in_kernel=False,
                        cu_seqlens=None, *, use_gate_in_kernel=False, A_log=None, dt_bias=None,
                        use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False,
                        state_v_first=False):
    """Kimi Delta Attention one token at a time; see chunk_kda."""
    where = "fused_recurrent_kda"
    return _scan(where, q, k, v, g=_gate(g, use_gate_in_kernel, A_log, dt_bias, where),
                 beta=_beta(beta, v, use_beta_sigmoid_in_kernel, allow_neg_eigval),
                 scale=scale, initial_state=initial_state,
                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                 flags=_delta_flags(use_qk_l2norm_in_kernel), state_v_first=state_v_first)


def empty_cache():
    """Gives back the buffers save_chunk_states keeps for the next step's
    chunk states (as torch.cuda.empty_cache gives back cached blocks); states
    still held for a backward are not touched."""
    _KEPT.clear()


def feature_map(x, kind, nu=1, m=None, seed=0, eps=1e-6):
    """phi(x) over the last dimension (fastweights.feature_map), with autograd."""
    return feature_map_op(x, kind, nu, m or 0, seed, eps)


def patch_transformers(save_chunk_states=False):
    """Routes transformers' gated delta net (Qwen3-Next, Qwen3.5) and KDA
    (Kimi Linear) layers to fastweights; see fastweights._transformers.
    save_chunk_states: as the chunk functions' keyword, for every layer."""
    from ._transformers import patch
    return patch(save_chunk_states)


def unpatch_transformers():
    """Undoes patch_transformers."""
    from ._transformers import unpatch
    return unpatch()
