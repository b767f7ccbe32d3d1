"""float16 and bfloat16 (ml_dtypes) arrays: read and written as they are.

For inputs of a half type, a call must give the fp32 call's states on the
same values bit for bit, and its outputs rounded once to the output's dtype
(numpy's and ml_dtypes' astype round to nearest even); the output takes v's
dtype unless out= is passed; states stay float32."""
import numpy as np
import pytest

import fastweights as fw
from fastweights.ops import _as_operand
from reference import scan
from test_binding import CASES, TOL, call, gate_of, inputs, relerr

ml_dtypes = pytest.importorskip("ml_dtypes")
HALF = [np.float16, ml_dtypes.bfloat16]
IDS = ["float16", "bfloat16"]


def rounded(arrays, dtype):
    """The arrays in dtype, and the same values in float32."""
    half = [None if a is None else np.asarray(a).astype(dtype) for a in arrays]
    return half, [None if h is None else h.astype(np.float32) for h in half]


def same(a, b):
    """Bitwise equal, NaN equal to NaN."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and bool(
        np.all((a == b) | (np.isnan(a.astype(np.float32)) & np.isnan(b.astype(np.float32)))))


@pytest.mark.parametrize("dtype", HALF, ids=IDS)
@pytest.mark.parametrize("name,fn,gated,delta", CASES, ids=[c[1].__name__ for c in CASES])
def test_half_inputs_are_the_fp32_call_rounded_once(name, fn, gated, delta, dtype):
    q, k, v, g, beta = inputs(T=40)
    g = gate_of(name, g)[:, :40] if name in ("gla", "kda") else g
    (qh, kh, vh, gh, bh), (q32, k32, v32, g32, b32) = rounded((q, k, v, g, beta), dtype)
    S0 = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 4, 12, 10)).astype(np.float32)
    o, S = call(fn, gated, delta, qh, kh, vh, gh, bh, initial_state=S0, output_final_state=True)
    o32, S32 = call(fn, gated, delta, q32, k32, v32, g32, b32, initial_state=S0,
                    output_final_state=True)
    assert o.dtype == dtype and S.dtype == np.float32
    assert same(S, S32)
    assert same(o, o32.astype(dtype))
    ro, rS, _ = scan(q32, k32, v32, g32 if gated else None, b32 if delta else None,
                     initial_state=S0)
    eps = 2.0 ** -11 if dtype == np.float16 else 2.0 ** -8  # unit roundoff
    assert relerr(o, ro) < eps + TOL and relerr(S, rS) < TOL


@pytest.mark.parametrize("fn", [fw.chunk_gated_delta_rule, fw.fused_recurrent_gated_delta_rule])
def test_sglang_mixed_dtypes(fn):
    """bf16 q, k, v with float32 g and beta, as sglang passes them."""
    q, k, v, g, beta = inputs(T=33)
    (qh, kh, vh), (q32, k32, v32) = rounded((q, k, v), ml_dtypes.bfloat16)
    o, S = fn(qh, kh, vh, g=g, beta=beta, output_final_state=True)
    o32, S32 = fn(q32, k32, v32, g=g, beta=beta, output_final_state=True)
    assert o.dtype == ml_dtypes.bfloat16
    assert same(S, S32) and same(o, o32.astype(ml_dtypes.bfloat16))


@pytest.mark.parametrize("out_dtype", [np.float32] + HALF, ids=["float32"] + IDS)
def test_out_array_takes_its_own_dtype(out_dtype):
    q, k, v, g, beta = inputs(T=20)
    (qh, kh, vh), _ = rounded((q, k, v), ml_dtypes.bfloat16)
    want, _ = fw.chunk_gated_delta_rule(qh.astype(np.float32), kh.astype(np.float32),
                                        vh.astype(np.float32), g, beta)
    out = np.full(v.shape, 7, dtype=out_dtype)
    o, _ = fw.chunk_gated_delta_rule(qh, kh, vh, g, beta, out=out)
    assert o is out
    assert same(out, want.astype(out_dtype))
    with pytest.raises(ValueError):
        fw.chunk_gated_delta_rule(qh, kh, vh, g, beta, out=np.empty(v.shape, np.float64))
    with pytest.raises(ValueError):
        fw.chunk_gated_delta_rule(qh, kh, vh, g, beta, out=np.empty((1,) + v.shape[1:]))


@pytest.mark.parametrize("dtype", HALF, ids=IDS)
def test_half_arrays_are_passed_without_conversion(dtype):
    x = np.zeros((2, 3, 4, 8), dtype=dtype)
    assert _as_operand(x, "q", 4) is x
    view = np.zeros((2, 4, 3, 8), dtype=dtype).transpose(0, 2, 1, 3)  # head-first storage
    assert _as_operand(view, "q", 4) is view
    assert _as_operand(x.astype(np.float64), "q", 4).dtype == np.float32


@pytest.mark.parametrize("dtype", HALF, ids=IDS)
def test_non_finite_half_inputs_as_fp32(dtype):
    q, k, v, g, beta = inputs(T=30)
    q[0, 3, 1, 2] = np.nan
    v[1, 7, 0, 0] = np.inf
    (qh, kh, vh), (q32, k32, v32) = rounded((q, k, v), dtype)
    for fn in (fw.chunk_gated_delta_rule, fw.fused_recurrent_gated_delta_rule):
        o, S = fn(qh, kh, vh, g=g, beta=beta, output_final_state=True)
        o32, S32 = fn(q32, k32, v32, g=g, beta=beta, output_final_state=True)
        assert same(S, S32) and same(o, o32.astype(dtype))


@pytest.mark.parametrize("dtype", HALF, ids=IDS)
@pytest.mark.parametrize("kind", ["identity", "elu_plus_one", "dpfp", "l2_norm"])
def test_feature_maps_keep_the_dtype(kind, dtype):
    x = np.random.default_rng(3).uniform(-2, 2, (5, 9)).astype(dtype)
    kw = {"nu": 2} if kind == "dpfp" else {}
    got = fw.feature_map(x, kind, **kw)
    want = fw.feature_map(x.astype(np.float32), kind, **kw)
    assert got.dtype == dtype and same(got, want.astype(dtype))
    dx = fw.feature_map_backward(x, got, kind, **kw)
    dx32 = fw.feature_map_backward(x.astype(np.float32), got.astype(np.float32), kind, **kw)
    assert dx.dtype == dtype and same(dx, dx32.astype(dtype))
