"""chunk_<op>_backward: fla's 6-tuple, each gradient against central
differences of the float64 reference forward (reference.py), for every op,
with initial and final-state gradients, grouped value heads, cu_seqlens,
V-first states, L2-normalised q and k, g_gamma, and half inputs."""
import numpy as np
import pytest

import fastweights as fw
from reference import scan

B, T, H, HV, K, V = 2, 5, 1, 2, 4, 3
rng = np.random.default_rng(7)


def draw(shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def case(name, l2=False):
    q, k, v = draw((B, T, H, K)), draw((B, T, H, K), -0.5, 0.5), draw((B, T, HV, V))
    g = {"simple_gla": draw((B, T, HV), -1, 0), "gated_delta_rule": draw((B, T, HV), -1, 0),
         "gla": draw((B, T, HV, K), -1, 0), "kda": draw((B, T, HV, K), -1, 0)}.get(name)
    beta = draw((B, T, HV), 0.1, 0.9) if name in ("delta_rule", "gated_delta_rule", "kda") else None
    return dict(q=q, k=k, v=v, g=g, beta=beta, S0=draw((B, HV, K, V)), l2=l2)


def loss(c, do, dht, **over):
    x = {**c, **over}
    o, S, _ = scan(x["q"], x["k"], x["v"], g=x["g"], beta=x["beta"], initial_state=x["S0"],
                   l2=c["l2"], normalize=c.get("normalize", False), eps=1e-3)
    return float((o * do).sum() + (S * dht).sum())


def numeric(c, do, dht, name):
    """d loss / d c[name] by central differences in float64."""
    x0 = np.asarray(c[name], np.float64)
    d = np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        up, down = x0.copy(), x0.copy()
        up[i] += 1e-6
        down[i] -= 1e-6
        d[i] = (loss(c, do, dht, **{name: up}) - loss(c, do, dht, **{name: down})) / 2e-6
    return d


def relerr(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


def run(name, c, do, dht, **kw):
    q, k, v, g, beta, S0 = c["q"], c["k"], c["v"], c["g"], c["beta"], c["S0"]
    kw = dict(dht=dht, initial_state=S0, use_qk_l2norm_in_kernel=c["l2"], **kw)
    if name == "linear_attn":
        return fw.chunk_linear_attn_backward(q, k, v, do, normalize=False, **kw)
    if name == "simple_gla":
        return fw.chunk_simple_gla_backward(q, k, v, g, do, **kw)
    if name == "delta_rule":
        return fw.chunk_delta_rule_backward(q, k, v, beta, do, **kw)
    if name == "gated_delta_rule":
        return fw.chunk_gated_delta_rule_backward(q, k, v, g, beta, do, **kw)
    if name == "gla":
        return fw.chunk_gla_backward(q, k, v, g, do, **kw)
    return fw.chunk_kda_backward(q, k, v, g, beta, do, **kw)


NAMES = ["linear_attn", "simple_gla", "delta_rule", "gated_delta_rule", "gla", "kda"]


@pytest.mark.parametrize("l2", [False, True], ids=["raw", "l2"])
@pytest.mark.parametrize("name", NAMES)
def test_gradients_match_central_differences(name, l2):
    c = case(name, l2)
    do, dht = draw((B, T, HV, V)), draw((B, HV, K, V))
    grads = run(name, c, do, dht)
    assert len(grads) == 6
    for got, key in zip(grads, ["q", "k", "v", "g", "beta", "S0"]):
        if c[key] is None:
            assert got is None, key
            continue
        assert got.shape == c[key].shape and got.dtype == c[key].dtype, key
        assert relerr(got, numeric(c, do, dht, key)) < 1e-4, key


def test_normalize_and_its_initial_pair():
    c = case("linear_attn")
    c["q"], c["k"] = draw((B, T, H, K), 0.1, 1), draw((B, T, H, K), 0.1, 1)
    c["normalize"] = True
    do, dht = draw((B, T, HV, V)), draw((B, HV, K, V))
    dq, dk, dv, dg, dbeta, dh0 = fw.chunk_linear_attn_backward(
        c["q"], c["k"], c["v"], do, dht=dht, initial_state=c["S0"], eps=1e-3)
    assert dg is None and dbeta is None
    for got, key in zip((dq, dk, dv, dh0), ("q", "k", "v", "S0")):
        assert relerr(got, numeric(c, do, dht, key)) < 1e-4, key


def test_layouts_give_the_same_gradients():
    """cu_seqlens (the batch rows packed) and V-first states: the dense call's
    gradients, bit for bit."""
    c = case("kda")
    do, dht = draw((B, T, HV, V)), draw((B, HV, K, V))
    want = run("kda", c, do, dht)
    pack = lambda x: x.reshape((1, B * T) + x.shape[2:])
    got = fw.chunk_kda_backward(pack(c["q"]), pack(c["k"]), pack(c["v"]), pack(c["g"]),
                                pack(c["beta"]), pack(do), dht=dht, initial_state=c["S0"],
                                cu_seqlens=np.arange(B + 1) * T)
    for a, b in zip(got[:5], want[:5]):
        assert np.array_equal(a.reshape(b.shape), b)
    assert np.array_equal(got[5], want[5])
    vf = fw.chunk_kda_backward(c["q"], c["k"], c["v"], c["g"], c["beta"], do,
                               dht=dht.swapaxes(-1, -2), initial_state=c["S0"].swapaxes(-1, -2),
                               state_v_first=True)
    for a, b in zip(vf[:5], want[:5]):
        assert np.array_equal(a, b)
    assert np.array_equal(vf[5].swapaxes(-1, -2), want[5])


def test_g_gamma_gradient_sums_the_broadcast_gate():
    c = case("simple_gla")
    gamma = draw((HV,), -1, 0)
    do = draw((B, T, HV, V))
    full = fw.chunk_simple_gla_backward(c["q"], c["k"], c["v"],
                                        np.broadcast_to(gamma, (B, T, HV)).copy(), do)
    viag = fw.chunk_simple_gla_backward(c["q"], c["k"], c["v"], None, do, g_gamma=gamma)
    assert viag[3].shape == (HV,)
    assert np.allclose(viag[3], full[3].sum(axis=(0, 1)), rtol=1e-6, atol=0)
    assert viag[5] is None  # no initial state, no dh0


def test_half_inputs_give_gradients_in_their_dtype():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    c = case("gated_delta_rule")
    do = draw((B, T, HV, V))
    half = {k: (x.astype(ml_dtypes.bfloat16) if isinstance(x, np.ndarray) and k != "S0" else x)
            for k, x in c.items()}
    got = fw.chunk_gated_delta_rule_backward(half["q"], half["k"], half["v"], half["g"],
                                             half["beta"], do.astype(ml_dtypes.bfloat16),
                                             initial_state=c["S0"])
    widened = {k: (x.astype(np.float32) if isinstance(x, np.ndarray) else x)
               for k, x in half.items()}
    want = fw.chunk_gated_delta_rule_backward(widened["q"], widened["k"], widened["v"],
                                              widened["g"], widened["beta"],
                                              do.astype(ml_dtypes.bfloat16).astype(np.float32),
                                              initial_state=c["S0"])
    for a, b in zip(got[:5], want[:5]):
        assert a.dtype == ml_dtypes.bfloat16
        assert np.array_equal(a, b.astype(ml_dtypes.bfloat16))
    assert got[5].dtype == np.float32 and np.array_equal(got[5], want[5])


def test_bad_input_raises():
    c = case("delta_rule")
    do = draw((B, T, HV, V))
    with pytest.raises(ValueError):
        fw.chunk_delta_rule_backward(c["q"], c["k"], c["v"], c["beta"], do[:, :2])
    with pytest.raises(ValueError):
        fw.chunk_delta_rule_backward(c["q"], c["k"], c["v"], c["beta"], do,
                                     dht=np.zeros((1, HV, K, V), np.float32))


@pytest.mark.parametrize("name", NAMES)
def test_forward_states_give_the_same_gradients(name):
    """The chunked forward's intermediate states, handed to the backward,
    replace its recomputation: the same gradients, bit for bit."""
    c = case(name)
    do, dht = draw((B, T, HV, V)), draw((B, HV, K, V))
    q, k, v, g, beta, S0 = c["q"], c["k"], c["v"], c["g"], c["beta"], c["S0"]
    fwd = {"linear_attn": lambda **kw: fw.chunk_linear_attn(q, k, v, normalize=False, **kw),
           "simple_gla": lambda **kw: fw.chunk_simple_gla(q, k, v, g, **kw),
           "delta_rule": lambda **kw: fw.chunk_delta_rule(q, k, v, beta, **kw),
           "gated_delta_rule": lambda **kw: fw.chunk_gated_delta_rule(q, k, v, g, beta, **kw),
           "gla": lambda **kw: fw.chunk_gla(q, k, v, g, **kw),
           "kda": lambda **kw: fw.chunk_kda(q, k, v, g, beta, **kw)}[name]
    _, _, inter = fwd(initial_state=S0, chunk_size=2, output_intermediate_states=True)
    want = run(name, c, do, dht, chunk_size=2)
    got = run(name, c, do, dht, chunk_size=2, intermediate_states=inter)
    for a, b in zip(got, want):
        assert (a is None and b is None) or np.array_equal(a, b)
