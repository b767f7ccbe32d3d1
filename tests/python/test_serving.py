"""fla's argument order and defaults, and the serving state model (pools
with state_indices, V-first states, intermediate states) in the binding."""
import inspect

import numpy as np
import pytest

import fastweights as fw
from test_binding import inputs, relerr

# fla's positional parameters (fla 0.6; names fla has and fastweights lacks
# raise NotImplementedError when given).
FLA_ORDER = {
    "chunk_linear_attn": ["q", "k", "v", "scale", "initial_state", "output_final_state",
                          "normalize", "cu_seqlens"],
    "fused_recurrent_linear_attn": ["q", "k", "v", "scale", "initial_state",
                                    "output_final_state", "reverse", "normalize",
                                    "cu_seqlens"],
    "chunk_simple_gla": ["q", "k", "v", "g", "g_gamma", "scale", "initial_state",
                         "output_final_state", "cu_seqlens"],
    "fused_recurrent_simple_gla": ["q", "k", "v", "g", "g_gamma", "scale", "initial_state",
                                   "output_final_state", "reverse", "cu_seqlens"],
    "chunk_delta_rule": ["q", "k", "v", "beta", "scale", "initial_state", "output_final_state",
                         "use_qk_l2norm_in_kernel", "cu_seqlens"],
    "fused_recurrent_delta_rule": ["q", "k", "v", "beta", "scale", "initial_state",
                                   "output_final_state", "use_qk_l2norm_in_kernel",
                                   "cu_seqlens"],
    "chunk_gated_delta_rule": ["q", "k", "v", "g", "beta", "scale", "initial_state",
                               "output_final_state", "use_qk_l2norm_in_kernel", "cu_seqlens"],
    "fused_recurrent_gated_delta_rule": ["q", "k", "v", "g", "gk", "gv", "beta", "scale",
                                         "initial_state", "output_final_state",
                                         "use_qk_l2norm_in_kernel", "cu_seqlens"],
    "chunk_gla": ["q", "k", "v", "g", "scale", "initial_state", "output_final_state",
                  "cu_seqlens"],
    "fused_recurrent_gla": ["q", "k", "v", "gk", "gv", "scale", "initial_state",
                            "output_final_state", "reverse", "cu_seqlens"],
    "chunk_kda": ["q", "k", "v", "g", "beta", "scale", "initial_state", "output_final_state",
                  "use_qk_l2norm_in_kernel", "cu_seqlens"],
    "fused_recurrent_kda": ["q", "k", "v", "g", "beta", "scale", "initial_state",
                            "output_final_state", "use_qk_l2norm_in_kernel", "cu_seqlens"],
}


@pytest.mark.parametrize("name", sorted(FLA_ORDER))
def test_positional_order_is_flas(name):
    params = inspect.signature(getattr(fw, name)).parameters.values()
    positional = [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert positional == FLA_ORDER[name]


def test_flas_defaults():
    q, k, v, g, beta = inputs(positive=True)
    # chunk_linear_attn normalises by default; fused_recurrent does not.
    normed, _ = fw.chunk_linear_attn(q, k, v)
    plain, _ = fw.chunk_linear_attn(q, k, v, normalize=False)
    assert not np.allclose(normed, plain)
    assert np.allclose(fw.fused_recurrent_linear_attn(q, k, v)[0], plain, rtol=1e-5, atol=1e-6)
    # beta=None means ones; g=None means no gate.
    ones = np.ones_like(beta)
    assert np.array_equal(fw.chunk_delta_rule(q, k, v)[0], fw.chunk_delta_rule(q, k, v, ones)[0])
    assert np.array_equal(fw.fused_recurrent_gated_delta_rule(q, k, v, beta=beta)[0],
                          fw.fused_recurrent_delta_rule(q, k, v, beta)[0])
    assert np.array_equal(fw.chunk_simple_gla(q, k, v)[0], plain)
    # g_gamma: one log-decay per head, the same as g holding it at every token.
    gamma = np.log(np.linspace(0.8, 0.95, v.shape[2])).astype(np.float32)
    full = np.broadcast_to(gamma, g.shape).copy()
    assert np.array_equal(fw.chunk_simple_gla(q, k, v, g_gamma=gamma)[0],
                          fw.chunk_simple_gla(q, k, v, full)[0])


def test_unsupported_fla_arguments_say_so():
    q, k, v, g, beta = inputs()
    gk = np.repeat(g[..., None], q.shape[-1], axis=-1)
    with pytest.raises(NotImplementedError, match="gk"):
        fw.fused_recurrent_gated_delta_rule(q, k, v, g, gk=gk, beta=beta)
    with pytest.raises(NotImplementedError, match="gv"):
        fw.fused_recurrent_gla(q, k, v, gk, gv=v)
    with pytest.raises(NotImplementedError, match="reverse"):
        fw.fused_recurrent_simple_gla(q, k, v, g, reverse=True)
    with pytest.raises(TypeError, match="bogus"):
        fw.chunk_delta_rule(q, k, v, beta, bogus=1)


SERVING = [fw.chunk_gated_delta_rule, fw.fused_recurrent_gated_delta_rule,
           fw.chunk_simple_gla, fw.fused_recurrent_linear_attn, fw.chunk_kda,
           fw.fused_recurrent_gla]


def run(fn, q, k, v, g, beta, **kw):
    if fn in (fw.chunk_gated_delta_rule, fw.fused_recurrent_gated_delta_rule):
        return fn(q, k, v, g=g, beta=beta, **kw)
    if fn is fw.chunk_simple_gla:
        return fn(q, k, v, g, **kw)
    # GLA and KDA: the same gate at every key channel but the first
    gk = np.repeat(g[..., None], q.shape[-1], axis=-1)
    gk[..., 0] = -3.0
    if fn is fw.chunk_kda:
        return fn(q, k, v, gk, beta, **kw)
    if fn is fw.fused_recurrent_gla:
        return fn(q, k, v, gk, **kw)
    return fn(q, k, v, **kw)


@pytest.mark.parametrize("fn", SERVING, ids=[f.__name__ for f in SERVING])
def test_pool_in_place_with_padding(fn):
    q, k, v, g, beta = inputs(B=3, T=9)
    S0 = np.random.default_rng(7).uniform(-0.5, 0.5, (3, 4, 12, 10)).astype(np.float32)
    want_o, want_S = run(fn, q, k, v, g, beta, initial_state=S0, output_final_state=True)
    pool = np.full((6, 4, 12, 10), 7.0, np.float32)
    idx = np.array([4, -1, 1], np.int32)  # sequence 1 is padding
    pool[4], pool[1] = S0[0], S0[2]
    o, S = run(fn, q, k, v, g, beta, initial_state=pool, state_indices=idx,
               output_final_state=True)
    assert S is pool  # updated in place and handed back
    assert np.array_equal(o[0], want_o[0]) and np.array_equal(o[2], want_o[2])
    assert not o[1].any()
    assert np.array_equal(pool[4], want_S[0]) and np.array_equal(pool[1], want_S[2])
    assert (pool[[0, 2, 3, 5]] == 7.0).all()
    # inplace_final_state=False: the pool is read, the final state comes by sequence.
    pool[4], pool[1] = S0[0], S0[2]
    before = pool.copy()
    _, S = run(fn, q, k, v, g, beta, initial_state=pool, state_indices=idx,
               inplace_final_state=False, output_final_state=True)
    assert np.array_equal(pool, before)
    assert np.array_equal(S[0], want_S[0]) and np.array_equal(S[2], want_S[2]) and not S[1].any()
    with pytest.raises(fw.FastweightsError, match="state index"):
        run(fn, q, k, v, g, beta, initial_state=pool, state_indices=[1, 1, 2])


@pytest.mark.parametrize("fn", SERVING, ids=[f.__name__ for f in SERVING])
def test_v_first_states_are_transposed(fn):
    q, k, v, g, beta = inputs(B=2, T=21)
    S0 = np.random.default_rng(8).uniform(-0.5, 0.5, (2, 4, 12, 10)).astype(np.float32)
    want_o, want_S = run(fn, q, k, v, g, beta, initial_state=S0, output_final_state=True)
    o, S = run(fn, q, k, v, g, beta, initial_state=np.ascontiguousarray(S0.swapaxes(-1, -2)),
               state_v_first=True, output_final_state=True)
    assert np.array_equal(o, want_o)
    assert S.shape == (2, 4, 10, 12) and np.array_equal(S, want_S.swapaxes(-1, -2))


@pytest.mark.parametrize("fn", SERVING, ids=[f.__name__ for f in SERVING])
def test_intermediate_states(fn):
    q, k, v, g, beta = inputs(B=1, T=40)
    cu = np.array([0, 12, 40])
    o, S, inter = run(fn, q, k, v, g, beta, cu_seqlens=cu, output_final_state=True,
                      output_intermediate_states=True)
    chunked = fn.__name__.startswith("chunk")
    op = "kda" if "kda" in fn.__name__ else "delta_rule" if "delta" in fn.__name__ else "gla"
    step = fw.chunk_size(op, 12) if chunked else 1
    steps = -(-28 // step)
    assert inter.shape == (2, steps, 4, 12, 10)
    # Each sequence's last step is its final state; steps past its end stay zero.
    for n, length in enumerate((12, 28)):
        last = -(-length // step) - 1
        assert np.array_equal(inter[n, last], S[n])
        assert not inter[n, last + 1:].any()
    # The state after step s is the final state of the call cut there.
    cut = min(step, 12)
    _, S_cut = run(fn, q[:, :cut], k[:, :cut], v[:, :cut], g[:, :cut], beta[:, :cut],
                   output_final_state=True)
    assert np.array_equal(inter[0, 0], S_cut[0])


def test_op_registry_and_chunk_query():
    ops = fw.ops()
    assert list(ops) == ["linear_attn", "simple_gla", "delta_rule", "gated_delta_rule", "gla",
                         "kda"]
    assert ops["gated_delta_rule"]["gate"] == "scalar" and ops["delta_rule"]["has_beta"]
    assert ops["gla"]["gate"] == "channel" and ops["kda"]["gate"] == "channel"
    assert ops["kda"]["has_beta"] and not ops["gla"]["has_beta"]
    assert ops["linear_attn"]["flops_per_kv"] == 4.0 and ops["delta_rule"]["flops_per_kv"] == 6.0
    assert fw.chunk_size("gated_delta_rule", 128) == 16
    assert fw.chunk_size("linear_attn", 128) == 32
    with pytest.raises(ValueError):
        fw.chunk_size("softmax", 64)
    assert relerr(np.ones(3), np.ones(3)) == 0


@pytest.mark.parametrize("fn", [fw.chunk_kda, fw.fused_recurrent_kda, fw.chunk_gated_delta_rule,
                                fw.fused_recurrent_gated_delta_rule])
def test_gate_and_beta_options_match_unfused(fn):
    """fla's use_gate_in_kernel (A_log, dt_bias), use_beta_sigmoid_in_kernel
    and allow_neg_eigval: the same as the formulas applied beforehand."""
    q, k, v, _, _ = inputs()
    r = np.random.default_rng(11)
    B, T, HV, K = 2, 70, 4, 12
    per_key = "kda" in fn.__name__
    a = r.uniform(-3, 3, (B, T, HV, K) if per_key else (B, T, HV)).astype(np.float32)
    b = r.uniform(-3, 3, (B, T, HV)).astype(np.float32)
    A_log = r.uniform(-1, 1, HV).astype(np.float32)
    dt_bias = r.uniform(-1, 1, HV * K if per_key else HV).astype(np.float32)
    bias = dt_bias.reshape(HV, K) if per_key else dt_bias
    x = a + bias
    g = (-np.exp(A_log).reshape((HV, 1) if per_key else HV)
         * np.where(x > 20, x, np.log1p(np.exp(x)))).astype(np.float32)
    beta = (2.0 / (1.0 + np.exp(-b))).astype(np.float32)
    want, want_S = fn(q, k, v, g=g, beta=beta, output_final_state=True)
    got, S = fn(q, k, v, g=a, beta=b, output_final_state=True, use_gate_in_kernel=True,
                A_log=A_log, dt_bias=dt_bias, use_beta_sigmoid_in_kernel=True,
                allow_neg_eigval=True)
    assert relerr(got, want) < 1e-5 and relerr(S, want_S) < 1e-5
    with pytest.raises(ValueError, match="A_log"):
        fn(q, k, v, g=a, beta=b, use_gate_in_kernel=True)
