"""Every binding function against the float64 numpy reference."""
import numpy as np
import pytest

import fastweights as fw
from reference import scan

TOL = 1e-5


def relerr(got, want):
    want = np.asarray(want)
    return float(np.abs(np.asarray(got, np.float64) - want).max() / max(np.abs(want).max(), 1e-30))


def inputs(B=2, T=70, H=2, HV=4, K=12, V=10, seed=0, positive=False):
    r = np.random.default_rng(seed)
    lo = 0.0 if positive else -1.0
    q = r.uniform(lo, 1, (B, T, H, K)).astype(np.float32)
    k = r.uniform(lo, 1, (B, T, H, K))
    k = (k / np.linalg.norm(k, axis=-1, keepdims=True)).astype(np.float32)
    v = r.uniform(-1, 1, (B, T, HV, V)).astype(np.float32)
    g = np.log(r.uniform(0.8, 1.0, (B, T, HV))).astype(np.float32)
    beta = r.uniform(0.05, 0.95, (B, T, HV)).astype(np.float32)
    return q, k, v, g, beta


def channel_gates(B=2, T=70, HV=4, K=12, seed=5):
    """g [B, T, HV, K] for GLA and KDA: mild, with some strong channels."""
    r = np.random.default_rng(seed)
    g = np.log(r.uniform(0.8, 1.0, (B, T, HV, K)))
    g[..., ::5] = r.uniform(-20, 0, g[..., ::5].shape)
    return g.astype(np.float32)


# (op, function, its gate keyword or None, reads beta)
CASES = [
    ("linear_attn", fw.chunk_linear_attn, None, False),
    ("linear_attn", fw.fused_recurrent_linear_attn, None, False),
    ("simple_gla", fw.chunk_simple_gla, "g", False),
    ("simple_gla", fw.fused_recurrent_simple_gla, "g", False),
    ("delta_rule", fw.chunk_delta_rule, None, True),
    ("delta_rule", fw.fused_recurrent_delta_rule, None, True),
    ("gated_delta_rule", fw.chunk_gated_delta_rule, "g", True),
    ("gated_delta_rule", fw.fused_recurrent_gated_delta_rule, "g", True),
    ("gla", fw.chunk_gla, "g", False),
    ("gla", fw.fused_recurrent_gla, "gk", False),
    ("kda", fw.chunk_kda, "g", True),
    ("kda", fw.fused_recurrent_kda, "g", True),
    ("kda", fw.fused_recurrent_gated_delta_rule, "gk", True),
]


def gate_of(name, g):
    """The gate a case passes: g as given, or per key channel for GLA and KDA."""
    if name not in ("gla", "kda"):
        return g
    B, T, HV = g.shape
    return channel_gates(B, T, HV)


def call(fn, gated, delta, q, k, v, g, beta, **kw):
    if gated:
        kw[gated] = g
    if delta:
        kw["beta"] = beta
    if fn in (fw.chunk_linear_attn,):
        kw.setdefault("normalize", False)
    return fn(q, k, v, **kw)


@pytest.mark.parametrize("name,fn,gated,delta", CASES, ids=[c[1].__name__ for c in CASES])
def test_scan_matches_reference(name, fn, gated, delta):
    q, k, v, g, beta = inputs()
    g = gate_of(name, g)
    S0 = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 4, 12, 10)).astype(np.float32)
    o, S = call(fn, gated, delta, q, k, v, g, beta, initial_state=S0, output_final_state=True)
    ro, rS, _ = scan(q, k, v, g if gated else None, beta if delta else None, initial_state=S0)
    assert o.shape == (2, 70, 4, 10) and o.dtype == np.float32
    assert S.shape == (2, 4, 12, 10)
    assert relerr(o, ro) < TOL and relerr(S, rS) < TOL


@pytest.mark.parametrize("name,fn,gated,delta", CASES, ids=[c[1].__name__ for c in CASES])
def test_cu_seqlens_head_first_views_and_scale(name, fn, gated, delta):
    q, k, v, g, beta = inputs(B=1, T=90)
    g = gate_of(name, g)
    # [B, H, T, D] storage seen as [B, T, H, D]: strided, passed without a copy.
    qh, kh, vh = (np.ascontiguousarray(a.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
                  for a in (q, k, v))
    cu = np.array([0, 30, 30, 90])
    o, S = call(fn, gated, delta, qh, kh, vh, g, beta, cu_seqlens=cu, scale=0.3,
                output_final_state=True)
    ro, rS, _ = scan(q, k, v, g if gated else None, beta if delta else None, scale=0.3,
                     cu_seqlens=cu)
    assert S.shape == (3, 4, 12, 10)
    assert relerr(o, ro) < TOL and relerr(S, rS) < TOL


@pytest.mark.parametrize("fn", [fw.chunk_delta_rule, fw.fused_recurrent_gated_delta_rule])
def test_qk_l2norm_in_kernel(fn):
    q, k, v, g, beta = inputs()
    k = k * 3.0  # not unit any more: the kernel normalises
    gated = "g" if fn is fw.fused_recurrent_gated_delta_rule else None
    o, _ = call(fn, gated, True, q, k, v, g, beta, use_qk_l2norm_in_kernel=True)
    ro, _, _ = scan(q, k, v, g if gated else None, beta, l2=True)
    assert relerr(o, ro) < TOL


@pytest.mark.parametrize("fn", [fw.chunk_linear_attn, fw.fused_recurrent_linear_attn])
def test_normalized_linear_attn_with_state_pair(fn):
    q, k, v, _, _ = inputs(positive=True)
    S0 = np.random.default_rng(2).uniform(-0.5, 0.5, (2, 4, 12, 10)).astype(np.float32)
    z0 = np.random.default_rng(3).uniform(0, 1, (2, 4, 12)).astype(np.float32)
    o, (S, z) = fn(q, k, v, normalize=True, initial_state=(S0, z0), output_final_state=True)
    ro, rS, rz = scan(q, k, v, normalize=True, initial_state=S0, initial_norm=z0, eps=1e-10)
    assert relerr(o, ro) < TOL and relerr(S, rS) < TOL and relerr(z, rz) < TOL


def test_no_final_state_returns_none():
    q, k, v, _, _ = inputs()
    assert fw.chunk_linear_attn(q, k, v, normalize=False)[1] is None


def test_errors_carry_status_text():
    q, k, v, g, beta = inputs(H=3, HV=4)
    with pytest.raises(fw.FastweightsError, match="multiple") as e:
        fw.chunk_delta_rule(q, k, v, beta)
    assert e.value.status == 4
    q, k, v, g, beta = inputs()
    with pytest.raises(fw.FastweightsError, match="chunk size"):
        fw.chunk_simple_gla(q, k, v, g, chunk_size=-1)
    with pytest.raises(fw.FastweightsError, match="cu_seqlens"):
        fw.chunk_linear_attn(q, k, v, normalize=False, cu_seqlens=[0, 70, 140])  # B = 2
    with pytest.raises(ValueError):
        fw.chunk_gated_delta_rule(q, k, v, g[:, :5], beta)
    with pytest.raises(ValueError):
        fw.chunk_delta_rule(q, k, v, beta, initial_state=np.zeros((1, 4, 12, 10)))


def np_feature(x, kind, nu=1, eps=1e-6):
    x = np.asarray(x, np.float64)
    if kind == "identity":
        return x
    if kind == "elu_plus_one":
        return np.where(x > 0, x + 1, np.exp(np.minimum(x, 0)))
    if kind == "relu":
        return np.maximum(x, 0)
    if kind == "dpfp":
        r = np.concatenate([np.maximum(x, 0), np.maximum(-x, 0)], -1)
        return np.concatenate([r * np.roll(r, i, axis=-1) for i in range(1, nu + 1)], -1)
    if kind == "sum_norm":
        return x / (x.sum(-1, keepdims=True) + eps)
    if kind == "l2_norm":
        return x / np.sqrt((x * x).sum(-1, keepdims=True) + eps)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind,nu", [("identity", 1), ("elu_plus_one", 1), ("relu", 1),
                                     ("dpfp", 1), ("dpfp", 3), ("sum_norm", 1), ("l2_norm", 1)])
def test_feature_maps(kind, nu):
    x = np.random.default_rng(4).uniform(0.1 if kind == "sum_norm" else -2, 2, (3, 5, 9))
    got = fw.feature_map(x, kind, nu=nu)
    want = np_feature(x.astype(np.float32), kind, nu)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_favor_plus():
    x = np.random.default_rng(5).uniform(-0.5, 0.5, (4, 6)).astype(np.float32)
    got = fw.feature_map(x, "favor_plus", m=16, seed=9)
    w = fw.favor_plus_projection(6, 16, seed=9).astype(np.float64)
    want = np.exp(x @ w.T - (x.astype(np.float64) ** 2).sum(-1, keepdims=True) / 2) / 4.0
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert np.array_equal(got, fw.feature_map(x, "favor_plus", m=16, seed=9))
    with pytest.raises(ValueError):
        fw.feature_map(x, "favor_plus")
    with pytest.raises(fw.FastweightsError):
        fw.feature_map(x, "dpfp", nu=0)


@pytest.mark.parametrize("kind,nu", [("identity", 1), ("elu_plus_one", 1), ("relu", 1),
                                     ("dpfp", 2), ("sum_norm", 1), ("l2_norm", 1),
                                     ("favor_plus", 1)])
def test_feature_map_backward_matches_central_differences(kind, nu):
    r = np.random.default_rng(6)
    x = r.uniform(0.1, 1, (2, 3, 7)) * np.where(r.uniform(size=(2, 3, 7)) < 0.5, -1, 1)
    if kind == "sum_norm":
        x = np.abs(x)
    x = x.astype(np.float32)
    kw = {"m": 8, "seed": 3} if kind == "favor_plus" else {"nu": nu}
    dy = r.uniform(-1, 1, fw.feature_map(x, kind, **kw).shape).astype(np.float32)
    dx = fw.feature_map_backward(x, dy, kind, **kw)
    assert dx.shape == x.shape and dx.dtype == np.float32
    if kind == "favor_plus":
        w = fw.favor_plus_projection(7, 8, seed=3).astype(np.float64)
        f = lambda z: np.exp(z @ w.T - (z ** 2).sum(-1, keepdims=True) / 2) / np.sqrt(8)  # noqa: E731
    else:
        f = lambda z: np_feature(z, kind, nu, eps=1e-6)  # noqa: E731
    want = np.zeros(x.shape)
    x64 = x.astype(np.float64)
    for j in range(x.shape[-1]):
        e = np.zeros(x.shape[-1])
        e[j] = 1e-6
        want[..., j] = ((f(x64 + e) - f(x64 - e)) * dy).sum(-1) / 2e-6
    assert relerr(dx, want) < 1e-5
    with pytest.raises(ValueError):
        fw.feature_map_backward(x, dy[:, :2], kind, **kw)


def test_runtime_controls():
    assert fw.version() == fw.__version__
    assert "scalar" in fw.compiled_backends() and "scalar" in fw.supported_backends()
    assert set(fw.supported_backends()) <= set(fw.compiled_backends())
    before = fw.backend()
    fw.set_backend("scalar")
    assert fw.backend() == "scalar"
    for name in ("avx2", "avx512", "neon"):
        if name in fw.supported_backends():
            fw.set_backend(name)
            assert fw.backend() == name
        else:
            with pytest.raises(fw.FastweightsError, match="backend"):
                fw.set_backend(name)
    with pytest.raises(ValueError):
        fw.set_backend("sse9")
    fw.set_backend("auto")
    assert fw.backend() == before
    fw.set_num_threads(3)
    assert fw.get_num_threads() == 3
    fw.set_num_threads(0)
    assert fw.get_num_threads() >= 1


def test_threads_do_not_change_bits():
    q, k, v, g, beta = inputs()
    outs = []
    for n in (1, 2, 3):
        fw.set_num_threads(n)
        outs.append(fw.chunk_gated_delta_rule(q, k, v, g, beta, output_final_state=True))
    fw.set_num_threads(0)
    for o, S in outs[1:]:
        assert np.array_equal(o, outs[0][0]) and np.array_equal(S, outs[0][1])


def test_chunk_size_zero_is_the_librarys_pick():
    assert fw.auto_chunk_size(True, 128) == 16
    assert fw.auto_chunk_size(False, 128) == 32
    q, k, v, g, beta = inputs()
    picked, _ = fw.chunk_delta_rule(q, k, v, beta)
    given, _ = fw.chunk_delta_rule(q, k, v, beta, chunk_size=fw.auto_chunk_size(True, q.shape[3]))
    assert np.array_equal(picked, given)
