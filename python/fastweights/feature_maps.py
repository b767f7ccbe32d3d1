"""Feature maps phi (Schlag et al. 2021 §5), applied over the last axis."""
import ctypes

import numpy as np

from ._lib import FeatureMapArgs, check, lib
from .ops import DTYPES

KINDS = {"identity": 0, "elu_plus_one": 1, "relu": 2, "dpfp": 3, "favor_plus": 4,
         "sum_norm": 5, "l2_norm": 6}


def feature_map(x, kind, nu=1, m=None, seed=0, eps=1e-6):
    """phi(x) over the last axis: d -> d, 2*nu*d ("dpfp") or m ("favor_plus",
    m required). Returns a new array of x's dtype: float32, float16 or
    bfloat16 (ml_dtypes) are read and written as they are (computed in
    float32, rounded once), other dtypes are converted to float32."""
    if kind not in KINDS:
        raise ValueError(f"unknown feature map {kind!r}; expected one of {sorted(KINDS)}")
    if kind == "favor_plus" and m is None:
        raise ValueError("favor_plus needs the number of random features m")
    a_in = np.asarray(x)
    if a_in.dtype.name not in DTYPES:
        a_in = a_in.astype(np.float32)
    if a_in.ndim < 1:
        raise ValueError("x needs at least one axis")
    lead, d = a_in.shape[:-1], a_in.shape[-1]
    rows = np.ascontiguousarray(a_in.reshape(-1, d)) if a_in.size else a_in.reshape(-1, d)
    args = FeatureMapArgs()
    args.struct_size = ctypes.sizeof(FeatureMapArgs)
    args.kind, args.rows, args.dim = KINDS[kind], rows.shape[0], d
    args.nu, args.num_features, args.seed, args.eps = nu, m or 0, seed, eps
    out_dim = ctypes.c_int64()
    check(lib.fw_feature_map_dim(ctypes.byref(args), ctypes.byref(out_dim)), "feature_map")
    out = np.empty((rows.shape[0], out_dim.value), dtype=rows.dtype)
    if rows.shape[0]:
        args.x.dtype = args.out.dtype = DTYPES[rows.dtype.name]
        args.x.data, args.x.stride[0], args.x.stride[1] = rows.ctypes.data, d, 1
        args.out.data, args.out.stride[0], args.out.stride[1] = out.ctypes.data, out_dim.value, 1
        check(lib.fw_feature_map(ctypes.byref(args)), "feature_map")
    return out.reshape(lead + (out_dim.value,))


def favor_plus_projection(d, m, seed=0):
    """The m x d FAVOR+ projection that feature_map(kind="favor_plus") uses."""
    out = np.empty((m, d), dtype=np.float32)
    check(lib.fw_favor_plus_projection(d, m, seed, out.ctypes.data), "favor_plus_projection")
    return out
